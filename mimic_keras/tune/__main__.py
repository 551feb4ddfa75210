"""`python -m mimic_keras.tune`: see `mimic_keras.tune.cli`."""

import sys

from mimic_keras.tune.cli import main

sys.exit(main())
