"""API Management: ARM only (the gateway's data plane is not emulated)."""
