"""`python -m rankexp.config_schema`, the older spelling of `python -m rankexp.config`: prints the key table."""

if __name__ == "__main__":
    import runpy

    runpy.run_module("rankexp.config", run_name="__main__")
