"""pysyncobj glue: the only package that imports pysyncobj."""
