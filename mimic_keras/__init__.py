"""mimic_keras: compress deep nets into shallow mimic nets (Ba & Caruana, NIPS 2014)."""

__version__ = "0.1.0"
