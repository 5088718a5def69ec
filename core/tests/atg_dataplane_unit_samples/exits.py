import sys

sys.exit("sample plugin calls sys.exit at import")
