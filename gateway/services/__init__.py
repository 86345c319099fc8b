"""Use cases, one subpackage per capability of the measure: residents/ (一(一), 三(二)), scores/
(二(三), 三(一)), exchange/ (三(二)), recognition/ (三(三)), rights/ (四(一), 四(二)), admin/ (一(二),
四(三)), credential/ (the credit code), publication/ (published documents and governance), operations/
and web/ (the services behind the pages). context.py, the one flat module, is what a process builds
once at start. Routes, pages and the CLI call these; these never import the web layer."""
