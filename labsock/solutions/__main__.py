"""``python -m labsock.solutions SOURCE TARGET``: the practice notebook, solved."""

import sys

from labsock.solutions._fill import main

sys.exit(main())
