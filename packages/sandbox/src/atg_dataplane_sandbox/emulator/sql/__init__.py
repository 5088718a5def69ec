"""Microsoft.Sql: servers, firewall rules, databases, import and export."""
