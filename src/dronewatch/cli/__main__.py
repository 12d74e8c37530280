import sys

from dronewatch.cli import main

sys.exit(main())
