"""Read models: SQLAlchemy tables, one module per read model, a runner and read-only queries."""
