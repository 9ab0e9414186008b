#!/usr/bin/env bash
# Signs and sends one REST request with scheme IMGFORGE-HMAC-SHA256-V1 (docs/signing.md),
# using nothing but openssl and curl: the README's worked example, run by tests/signed_requests.rs.
#
#   IMGFORGE_KEY=ak_... IMGFORGE_SECRET=sk_... IMGFORGE_USER=user-42 \
#     scripts/signed_request.sh http://127.0.0.1:8080 /v1/config/options '{"namespace":"custom_agent"}'
set -euo pipefail
base="$1" path="$2" body="${3:-}"
key="${IMGFORGE_KEY:?set IMGFORGE_KEY}" secret="${IMGFORGE_SECRET:?set IMGFORGE_SECRET}"
user="${IMGFORGE_USER:-anonymous-user}"

timestamp=$(( $(date +%s%N) / 1000000 ))        # milliseconds since the epoch
nonce=$(openssl rand -hex 16)                    # 128 random bits, 32 hex digits
body_sha256=$(printf '%s' "$body" | openssl dgst -sha256 -r | cut -d' ' -f1)
# Nine lines, no trailing newline; line 4 is the canonical query (empty here).
canonical=$(printf 'IMGFORGE-HMAC-SHA256-V1\nPOST\n%s\n\n%s\n%s\n%s\n%s\n%s' \
  "$path" "$key" "$user" "$timestamp" "$nonce" "$body_sha256")
signature=$(printf '%s' "$canonical" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)

curl -sS -X POST "$base$path" \
  -H 'content-type: application/json' \
  -H "x-imgforge-key: $key" -H "x-imgforge-user: $user" \
  -H "x-imgforge-timestamp: $timestamp" -H "x-imgforge-nonce: $nonce" \
  -H "x-imgforge-content-sha256: $body_sha256" -H "x-imgforge-signature: $signature" \
  --data-binary "$body"
