"""The map's background: a tile URL, or the tiles of the site's own archive.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam

from dronewatch.api.models import R401, problem
from dronewatch.api.service import Anyone, Service
from dronewatch.web.tiles import MAX_ZOOM


def routes(service: Service) -> APIRouter:
    router = APIRouter()
    config = service.config
    archive = service.archive

    @router.get("/api/map", tags=["map"], responses=R401)
    async def map_background(who: Anyone) -> dict[str, Any]:
        """The map's background: a tile URL template for Leaflet (empty: the offline grid only)."""
        if archive is not None:
            info = archive.info
            bounds = info.bounds and [[info.bounds[1], info.bounds[0]], [info.bounds[3], info.bounds[2]]]
            return {"tiles": "/api/tiles/{z}/{x}/{y}", "min_native_zoom": info.min_zoom,
                    "max_native_zoom": info.max_zoom, "bounds": bounds,
                    "attribution": config.map.attribution or info.attribution}
        return {"tiles": config.map.tile_url, "min_native_zoom": None, "max_native_zoom": None, "bounds": None,
                "attribution": config.map.attribution}

    @router.get("/api/tiles/{z}/{x}/{y}", tags=["map"], response_class=Response,
             responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
                        **problem(404, "No such tile, or no tile archive"), **R401})
    def tile(z: Annotated[int, PathParam(ge=0, le=MAX_ZOOM)], x: Annotated[int, PathParam(ge=0, lt=2**MAX_ZOOM)],
             y: Annotated[int, PathParam(ge=0, lt=2**MAX_ZOOM)], who: Anyone) -> Response:
        """A tile of the site's archive (``map.tile_archive``), XYZ numbering as web maps use.

        Not audited: a screen loads dozens of them, and they show the ground, not the traffic."""
        if archive is None:
            raise HTTPException(404, "this service has no tile archive (map.tile_archive)")
        data = archive.tile(z, x, y)
        if data is None:
            raise HTTPException(404, f"no tile {z}/{x}/{y} in the archive")
        return Response(data, media_type=archive.content_type(data),
                        headers={"Cache-Control": "private, max-age=3600"})

    return router
