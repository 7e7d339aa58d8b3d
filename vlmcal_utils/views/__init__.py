"""The chapters' views: figures, tables, boxes and results schemas, one module per chapter.

The top layer of the package: the library modules below it hold no HTML and no chapter-specific
display. It is still in the wheel, because the Colab notebooks import it.
"""
