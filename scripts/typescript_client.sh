#!/usr/bin/env bash
# Generate the TypeScript client types of the billing API from its OpenAPI schema with
# openapi-typescript, then type-check clients/typescript/billing.ts (reads the billing
# state, cancels a subscription) with tsc --noEmit. npm packages go to .cache/ts (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
TS=.cache/ts
if [ ! -x "$TS/node_modules/.bin/openapi-typescript" ] || [ ! -x "$TS/node_modules/.bin/tsc" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TS" openapi-typescript@7 typescript@5
fi
# The demo's document, as GET /api/billing/schema/ serves it.
DJANGO_SETTINGS_MODULE=example_project.settings .venv/bin/python -c '
import json, django; django.setup()
from django_polar.api.openapi import build_schema
print(json.dumps(build_schema("/api/billing/")))' > "$TS/schema.json"
"$TS/node_modules/.bin/openapi-typescript" "$TS/schema.json" -o clients/typescript/billing-api.d.ts
"$TS/node_modules/.bin/tsc" --noEmit -p clients/typescript/tsconfig.json
echo "TypeScript client generated and type-checked."
