"""Write the generated tables into the model card between their markers (``<!-- table: NAME [ARG] -->`` ...
``<!-- /table -->``): NAME is a script in scripts/ whose output (run with ARG) is the table. A script that finds
its runs missing exits non-zero; its table is left as committed and named on stderr."""

import re
import subprocess
import sys
from pathlib import Path

card = Path(sys.argv[1] if len(sys.argv) > 1 else "models/README.md")
text = card.read_text()
for name, argument in re.findall(r"<!-- table: (\w+)(?: (\w+))? -->", text):
    command = [sys.executable, f"scripts/{name}.py", *([argument] if argument else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        print(f"left as committed: table {name} {argument} ({done.stderr.strip()})", file=sys.stderr)
        continue
    marker = re.escape(f"<!-- table: {name}{' ' + argument if argument else ''} -->")
    pattern = re.compile(rf"({marker}\n).*?(<!-- /table -->)", re.S)
    text = pattern.sub(lambda m, table=done.stdout: m.group(1) + table + m.group(2), text)
card.write_text(text)
print(f"tables written into {card}")
