-- switchman-hook: the server-side half of the audit trail (SPEC sections 3 and 12), for PostgreSQL >= 13.
--
-- The PostgreSQL backend computes each audit row's canonical text, entry_hash and HMAC inside the
-- writing transaction, so the key never leaves the server. These functions must produce exactly
-- the bytes switchman/audit.py produces (`canonical`, `entry_hash`, `sign`, through
-- switchman/jsonutil.py's `dumps`); tests/test_pg_audit_sql.py holds them to it, differentially.
--
-- How values travel
--   * text parameters (prev_hash, event_type, status, reason_code, task_id, lease_id, created_at)
--     carry ordinary Unicode text. PostgreSQL text cannot hold NUL or lone surrogates; in these
--     fields Python never produces them (SQLite's driver refuses surrogates there too).
--   * bytea parameters (worktree, file_path, details: the fields SQLite stores as a BLOB when
--     `audit.db_text` says so) carry the exact bytes: the client sends `os.fsencode(value)`
--     (UTF-8, surrogateescape), i.e. the original file-name bytes. The server decodes them as
--     Python's `os.fsdecode` does: every well-formed UTF-8 sequence (no overlongs, no encoded
--     surrogates, nothing above U+10FFFF) is a character, every other byte b is the lone surrogate
--     U+DC00+b, which `dumps` writes as the six ASCII characters \udcXX (lowercase hex). NUL, valid
--     UTF-8 but impossible in text, comes out as \u0000 as `dumps` writes it.
--   * sequence is bigint; NULL in any field is JSON null.
--
-- Requires a UTF8 database (checked below) and pgcrypto (for hmac). The functions are created in
-- the first schema of search_path, and call pgcrypto's hmac unqualified: install pgcrypto where
-- the callers' search_path finds it (store setup installs both into the same schema; a SECURITY
-- DEFINER caller must pin search_path). Re-running this file replaces the functions in place.

DO $check$
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RAISE EXCEPTION 'switchman needs a UTF8 database; this one is %', current_setting('server_encoding')
      USING HINT = 'CREATE DATABASE ... ENCODING ''UTF8'' TEMPLATE template0';
  END IF;
END
$check$;

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- The JSON string literal `dumps` writes for a str (NULL -> null): quotes, backslash, \b \f \n \r
-- \t, other C0 controls as \u00xx lowercase, DEL/U+2028/U+2029/non-ASCII unescaped. PostgreSQL's
-- own escape_json does exactly this (json.c), so to_json(text) is the encoder.
CREATE OR REPLACE FUNCTION switchman_json_string(value text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(to_json(value)::text, 'null') $$;

-- `dumps(os.fsdecode(value))` for any bytes (see the header); switchman_json_string(bytea) below
-- calls it for everything but plain ASCII.
CREATE OR REPLACE FUNCTION switchman_json_string_decoded(value bytea) RETURNS text
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  -- One well-formed UTF-8 character other than NUL, over the lowercase hex of the bytes
  -- (Unicode Table 3-7: no overlongs, no surrogates D800-DFFF, nothing above U+10FFFF).
  ch CONSTANT text := '(?:0[1-9a-f]|[1-7][0-9a-f]'
    '|(?:c[2-9a-f]|d[0-9a-f])[89ab][0-9a-f]'
    '|e0[ab][0-9a-f][89ab][0-9a-f]'
    '|(?:e[1-9a-c]|e[ef])[89ab][0-9a-f][89ab][0-9a-f]'
    '|ed[89][0-9a-f][89ab][0-9a-f]'
    '|f0(?:9[0-9a-f]|[ab][0-9a-f])[89ab][0-9a-f][89ab][0-9a-f]'
    '|f[1-3][89ab][0-9a-f][89ab][0-9a-f][89ab][0-9a-f]'
    '|f48[0-9a-f][89ab][0-9a-f][89ab][0-9a-f])';
  hex text;
  result text;
BEGIN
  hex := encode(value, 'hex');
  IF hex ~ ('^' || ch || '*$') THEN  -- valid UTF-8 without NUL: the text encoder
    RETURN to_json(convert_from(value, 'UTF8'))::text;
  END IF;
  -- Decode as os.fsdecode does: at each byte, the longest run of well-formed characters, or one
  -- byte that starts none (NUL or >= 0x80, the only bytes that can fail). Runs and bytes alternate
  -- left to right; every match is byte-aligned because every byte starts one of the two.
  SELECT string_agg(
           CASE
             WHEN m[1] IS NOT NULL THEN substr(j, 2, length(j) - 2)
             WHEN m[2] = '00' THEN '\u0000'
             ELSE '\udc' || m[2]
           END, '' ORDER BY n)
    INTO result
    FROM regexp_matches(hex, '(' || ch || '+)|(00|[89a-f][0-9a-f])', 'g') WITH ORDINALITY AS t(m, n),
         LATERAL (SELECT to_json(convert_from(decode(m[1], 'hex'), 'UTF8'))::text AS j) AS e;
  RETURN '"' || coalesce(result, '') || '"';
END
$$;

-- The same for bytes that may not be UTF-8: `dumps(os.fsdecode(value))` (see the header).
-- An inlinable SQL wrapper takes the usual case, printable ASCII without a backslash, which the
-- 'escape' encoding leaves unchanged; anything else goes to the decoder above.
CREATE OR REPLACE FUNCTION switchman_json_string(value bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE
           WHEN value IS NULL THEN 'null'
           WHEN strpos(encode(value, 'escape'), '\') = 0 THEN to_json(encode(value, 'escape'))::text
           ELSE switchman_json_string_decoded(value)
         END
$$;

-- audit.canonical(): compact JSON of the eleven fields in the order of SPEC section 3.
CREATE OR REPLACE FUNCTION switchman_canonical(
  sequence bigint, prev_hash text, event_type text, status text, reason_code text,
  worktree bytea, task_id text, lease_id text, file_path bytea, details bytea, created_at text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT '{"sequence":' || coalesce(sequence::text, 'null')
      || ',"prev_hash":' || switchman_json_string(prev_hash)
      || ',"event_type":' || switchman_json_string(event_type)
      || ',"status":' || switchman_json_string(status)
      || ',"reason_code":' || switchman_json_string(reason_code)
      || ',"worktree":' || switchman_json_string(worktree)
      || ',"task_id":' || switchman_json_string(task_id)
      || ',"lease_id":' || switchman_json_string(lease_id)
      || ',"file_path":' || switchman_json_string(file_path)
      || ',"details":' || switchman_json_string(details)
      || ',"created_at":' || switchman_json_string(created_at)
      || '}'
$$;

-- audit.entry_hash(): hex(sha256(utf8(canonical))). sha256() is core since PostgreSQL 11.
CREATE OR REPLACE FUNCTION switchman_entry_hash(
  sequence bigint, prev_hash text, event_type text, status text, reason_code text,
  worktree bytea, task_id text, lease_id text, file_path bytea, details bytea, created_at text
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT encode(sha256(convert_to(switchman_canonical(
    sequence, prev_hash, event_type, status, reason_code, worktree, task_id, lease_id, file_path,
    details, created_at), 'UTF8')), 'hex')
$$;

-- audit.sign(): hex(HMAC-SHA256(key = utf8 of the 64-char hex key text, msg = utf8 of entry_hash)).
CREATE OR REPLACE FUNCTION switchman_sign(key text, entry_hash text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT encode(hmac(convert_to(entry_hash, 'UTF8'), convert_to(key, 'UTF8'), 'sha256'), 'hex') $$;
