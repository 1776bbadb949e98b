#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""rst_check.py FILE...: parse each reST file with docutils as QEMU's
Sphinx build would read it; print every message at warning level or
above (nothing printed: the file is clean).

Sphinx's toctree directive is not docutils': here it checks only that
every entry names a document that exists beside the file (a missing
entry is what a series most easily gets wrong in an index)."""
import io
import os
import sys

import docutils.core
from docutils.parsers.rst import Directive, directives


class TocTree(Directive):
    has_content = True
    optional_arguments = 0
    option_spec = {"maxdepth": directives.unchanged, "hidden": directives.flag,
                   "glob": directives.flag, "caption": directives.unchanged,
                   "numbered": directives.unchanged, "titlesonly": directives.flag}

    def run(self):
        here = os.path.dirname(self.state.document.current_source)
        for entry in self.content:
            entry = entry.strip()
            if entry and not os.path.exists(os.path.join(here, entry + ".rst")):
                return [self.state.document.reporter.warning(
                    f"toctree entry {entry!r}: no {entry}.rst", line=self.lineno)]
        return []


directives.register_directive("toctree", TocTree)
for path in sys.argv[1:]:
    err = io.StringIO()
    with open(path, encoding="utf-8") as f:
        docutils.core.publish_doctree(
            f.read(), source_path=path,
            settings_overrides={"warning_stream": err, "report_level": 2, "halt_level": 5})
    print(err.getvalue(), end="")
