raise RuntimeError("sample plugin fails at import")
