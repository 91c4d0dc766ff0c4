"""Write the generated tables into the model card between their markers (``<!-- table: NAME -->`` ...
``<!-- /table -->``): NAME is a script in scripts/ whose output is the table (keep_table, rotation_table)."""

import re
import subprocess
import sys
from pathlib import Path

card = Path(sys.argv[1] if len(sys.argv) > 1 else "models/README.md")
text = card.read_text()
for name in re.findall(r"<!-- table: (\w+) -->", text):
    table = subprocess.run([sys.executable, f"scripts/{name}.py"], capture_output=True, text=True, check=True).stdout
    pattern = re.compile(rf"(<!-- table: {name} -->\n).*?(<!-- /table -->)", re.S)
    text = pattern.sub(lambda m: m.group(1) + table + m.group(2), text)
card.write_text(text)
print(f"tables written into {card}")
