"""Text analysis for SCRM: sentiment and keywords of Chinese and English posts (``scrm.text.sentiment``)."""
