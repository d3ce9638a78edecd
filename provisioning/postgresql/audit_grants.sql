-- Pathfinder on PostgreSQL: runtime roles that can append to the audit log but not rewrite it.
--
-- Run with psql after `pathfinder db init`, and again after every upgrade that ran `db init`.
-- The script is idempotent. Run it as a superuser, as a role with CREATEROLE that can
-- SET ROLE to the schema owner, or (once the two roles exist) as the owner itself:
--     psql "<admin connection>" -v ON_ERROR_STOP=1 \
--          -v owner=pathfinder -v schema=public \
--          -f provisioning/postgresql/audit_grants.sql
--   owner   the role that ran `pathfinder db init` and owns the pf_* tables
--           (default: the role running the script)
--   schema  the schema that holds them (default: public)
-- Set the passwords afterwards, in psql: \password pathfinder_app  and  \password pathfinder_sealer
--
-- The roles:
--   pathfinder_app     the web application (gunicorn workers). On the audit tables it may
--                      only read and append log rows, and call pf_audit_pseudonymise.
--   pathfinder_sealer  the scheduler process. Its leader runs the sealer, and it runs the
--                      other jobs, so it is a member of pathfinder_app. On top of that it may
--                      append to pf_audit_leaves and pf_audit_checkpoints. The web role may
--                      not, so a compromised web process cannot add leaves or checkpoints.
-- Neither role may UPDATE, DELETE or TRUNCATE any audit table. The owner keeps those rights
-- (an owner can always grant them back to itself), so neither process may connect as the
-- owner.
--
-- What this script does NOT fix (docs/dba.md, "Audit log rights"):
--   * Today pathfinder.audit.pseudonymise_user (account erasure) still UPDATEs pf_audit_log
--     directly. Under these grants that UPDATE is refused: a deletion drops the user's
--     tables, then its last transaction rolls back and the account stays pending_deletion.
--     That lasts until the code calls pf_audit_pseudonymise instead.
--   * pf_mv_user_stats: before PostgreSQL 17 only the owner may REFRESH a materialized view.
--     Section 2 prints the one statement to run then.

\set ON_ERROR_STOP on
\if :{?schema}
\else
  \set schema public
\endif
\if :{?owner}
\else
  SELECT current_user AS owner \gset
\endif
SELECT current_setting('server_version_num')::int >= 170000 AS pg17 \gset

-- 1. The roles, created only if missing (this step needs CREATEROLE). LOGIN without a
--    password: they cannot sign in until you set one, or you may use them as group roles
--    and grant them to login roles of your own.
SELECT 'CREATE ROLE pathfinder_app LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pathfinder_app') \gexec
SELECT 'CREATE ROLE pathfinder_sealer LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pathfinder_sealer') \gexec
-- The scheduler runs every job the web app could run (account deletion, refreshes, ...).
SELECT 'GRANT pathfinder_app TO pathfinder_sealer'
 WHERE NOT pg_has_role('pathfinder_sealer', 'pathfinder_app', 'MEMBER') \gexec

-- Everything below is done as the owner: the owner is the grantor (it can revoke later) and
-- owns the functions (their SECURITY DEFINER rights are the owner's).
SET ROLE :"owner";
BEGIN;

-- 2. What the application needs outside the audit tables. Users' tables are created at
--    sign-up by the web app, so pathfinder_app needs CREATE on the schema; the tables it
--    creates belong to it. Run `pathfinder tenants ...` commands with a pathfinder_app (or
--    pathfinder_sealer) URL too, so that every user's tables have the same owner.
GRANT USAGE, CREATE ON SCHEMA :"schema" TO pathfinder_app;
-- Every table the owner owns except the audit tables (section 3). Table by table rather than
-- ON ALL TABLES IN SCHEMA: users' tables belong to pathfinder_app, and the owner cannot
-- grant on them.
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO pathfinder_app',
              schemaname, tablename)
  FROM pg_tables
 WHERE schemaname = :'schema' AND tableowner = :'owner'
   AND tablename NOT IN ('pf_audit_log', 'pf_audit_leaves', 'pf_audit_checkpoints')
 ORDER BY tablename \gexec
-- pf_mv_user_stats is refreshed by a job (scheduler) and by an admin action (web app).
-- PostgreSQL 17 has a privilege for that (MAINTAIN). Before 17 only the owner may refresh.
SELECT format('GRANT SELECT%s ON %I.%I TO pathfinder_app',
              CASE WHEN :'pg17'::boolean THEN ', MAINTAIN' ELSE '' END, schemaname, matviewname)
  FROM pg_matviews
 WHERE schemaname = :'schema' AND matviewowner = :'owner' \gexec
SELECT NOT :'pg17'::boolean
       AND EXISTS (SELECT 1 FROM pg_matviews
                    WHERE schemaname = :'schema' AND matviewowner = :'owner') AS mv_note \gset
\if :mv_note
\echo 'NOTE: before PostgreSQL 17 only its owner may refresh pf_mv_user_stats. As a superuser run:'
\echo '      ALTER MATERIALIZED VIEW' :"schema".pf_mv_user_stats 'OWNER TO pathfinder_app;'
\echo '      (a derived summary: the web role owning it puts no audit data at risk)'
\endif

-- 3. The audit tables: read and append, nothing else. REVOKE ALL removes UPDATE, DELETE,
--    TRUNCATE, REFERENCES and TRIGGER granted earlier by the owner or a superuser.
REVOKE ALL ON :"schema".pf_audit_log, :"schema".pf_audit_leaves, :"schema".pf_audit_checkpoints
    FROM PUBLIC, pathfinder_app, pathfinder_sealer;
GRANT SELECT, INSERT ON :"schema".pf_audit_log TO pathfinder_app;
GRANT SELECT ON :"schema".pf_audit_leaves, :"schema".pf_audit_checkpoints TO pathfinder_app;
GRANT INSERT ON :"schema".pf_audit_leaves, :"schema".pf_audit_checkpoints TO pathfinder_sealer;
-- No grant on the identity sequence behind pf_audit_log.seq: an INSERT draws from an
-- identity column's sequence without any privilege on it, and USAGE would only let the
-- role burn numbers with nextval().

-- The sealer locks the newest checkpoint with SELECT ... FOR UPDATE so that two sealers
-- queue. PostgreSQL allows FOR UPDATE only with the UPDATE privilege on at least one column,
-- so the sealer gets UPDATE on one column, and this trigger refuses every UPDATE and DELETE
-- of a checkpoint, whoever runs it. The privilege serves for locking and nothing else.
-- (The owner could drop the trigger; the runtime roles cannot, because they do not own the
-- table.)
GRANT UPDATE (sealed_at) ON :"schema".pf_audit_checkpoints TO pathfinder_sealer;
CREATE OR REPLACE FUNCTION :"schema".pf_audit_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $body$
BEGIN
    RAISE EXCEPTION '% of % is not allowed: the audit tables are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$body$;
REVOKE ALL ON FUNCTION :"schema".pf_audit_refuse_change() FROM PUBLIC;
DROP TRIGGER IF EXISTS pf_audit_checkpoints_append_only ON :"schema".pf_audit_checkpoints;
CREATE TRIGGER pf_audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON :"schema".pf_audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION :"schema".pf_audit_refuse_change();

-- 4. Pseudonymisation at account erasure, the one change the log allows, through a
--    SECURITY DEFINER function owned by the owner.
--
--    pf_audit_pseudonymise(p_seq, p_actor_id, p_actor_display, p_target_id,
--                          p_target_display, p_ip_address, p_user_agent,
--                          p_request_path, p_details)
--    changes one row, found by seq, and only these eight columns. A NULL argument leaves its
--    column as it is, so no column can be set to NULL through it. A token is '~' followed by
--    25 characters of [a-z2-7], as pathfinder.audit.hashing makes them. An id is a ULID
--    (26 characters of Crockford base32, first digit 0-7). The function refuses, and changes
--    nothing, unless every argument given obeys the rule for its column:
--      actor_id, actor_display, target_id, target_display, ip_address, user_agent:
--          the same value as stored, or a token in place of a stored value that is not NULL
--          and not already a token;
--      request_path: the stored path with some '/'-separated segments that are ids replaced
--          by tokens, every other segment unchanged;
--      details: the stored JSON document with some string values that are ids replaced by
--          tokens, every key, every other value and the structure unchanged.
--    It cannot tell whether a token is the right one. Only the HMAC key can, and the
--    database does not hold it. `pathfinder audit verify` finds a row whose token is wrong,
--    because its hash input no longer matches row_hash. Nor does it check that the row is
--    about a deleted account: the web role can update pf_users, so such a check would prove
--    nothing. What it guarantees: through it the web role can replace identifying values by
--    pseudonyms and do nothing else. It cannot change what happened, when, to what, or with
--    what outcome, and it cannot remove, reorder or add rows.
--    It runs in the caller's transaction and commits nothing.
--
--    The bodies name the schema in full and run with search_path = pg_catalog, pg_temp,
--    because pathfinder_app may create objects in the schema (CREATE, section 2) and
--    could otherwise shadow an operator the SECURITY DEFINER code uses. psql does not
--    expand :schema inside a quoted body, so each CREATE is built with replace() and run
--    by \gexec. The functions themselves run no dynamic SQL.

SELECT replace($create$
CREATE OR REPLACE FUNCTION @schema@.pf_audit_may_replace(p_old text, p_new text)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
    -- NULL: keep the column. Otherwise the same value, or a token replacing a clear value.
    SELECT p_new IS NULL
        OR p_new = p_old
        OR (p_old IS NOT NULL
            AND p_old !~ '^~[abcdefghijklmnopqrstuvwxyz234567]{25}$'
            AND p_new ~ '^~[abcdefghijklmnopqrstuvwxyz234567]{25}$')
$body$
$create$, '@schema@', quote_ident(:'schema')) \gexec

SELECT replace($create$
CREATE OR REPLACE FUNCTION @schema@.pf_audit_path_pseudonymised(p_old text, p_new text)
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    old_parts text[] := string_to_array(p_old, '/');
    new_parts text[] := string_to_array(p_new, '/');
BEGIN
    IF p_old IS NULL OR p_new IS NULL
       OR coalesce(array_length(old_parts, 1), 0) <> coalesce(array_length(new_parts, 1), 0) THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. coalesce(array_length(old_parts, 1), 0) LOOP
        IF old_parts[i] IS DISTINCT FROM new_parts[i]
           AND NOT (old_parts[i] ~ '^[01234567][0123456789ABCDEFGHJKMNPQRSTVWXYZ]{25}$'
                    AND new_parts[i] ~ '^~[abcdefghijklmnopqrstuvwxyz234567]{25}$') THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$body$
$create$, '@schema@', quote_ident(:'schema')) \gexec

SELECT replace($create$
CREATE OR REPLACE FUNCTION @schema@.pf_audit_json_pseudonymised(p_old jsonb, p_new jsonb)
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    k text;
BEGIN
    IF p_old IS NULL OR p_new IS NULL OR jsonb_typeof(p_old) <> jsonb_typeof(p_new) THEN
        RETURN false;
    END IF;
    CASE jsonb_typeof(p_old)
    WHEN 'object' THEN
        IF ARRAY(SELECT jsonb_object_keys(p_old) ORDER BY 1)
           <> ARRAY(SELECT jsonb_object_keys(p_new) ORDER BY 1) THEN
            RETURN false;
        END IF;
        FOR k IN SELECT jsonb_object_keys(p_old) LOOP
            IF NOT @schema@.pf_audit_json_pseudonymised(p_old -> k, p_new -> k) THEN
                RETURN false;
            END IF;
        END LOOP;
        RETURN true;
    WHEN 'array' THEN
        IF jsonb_array_length(p_old) <> jsonb_array_length(p_new) THEN
            RETURN false;
        END IF;
        FOR i IN 0 .. jsonb_array_length(p_old) - 1 LOOP
            IF NOT @schema@.pf_audit_json_pseudonymised(p_old -> i, p_new -> i) THEN
                RETURN false;
            END IF;
        END LOOP;
        RETURN true;
    WHEN 'string' THEN
        RETURN p_old = p_new
            OR (p_old #>> '{}' ~ '^[01234567][0123456789ABCDEFGHJKMNPQRSTVWXYZ]{25}$'
                AND p_new #>> '{}' ~ '^~[abcdefghijklmnopqrstuvwxyz234567]{25}$');
    ELSE
        RETURN p_old = p_new;
    END CASE;
END
$body$
$create$, '@schema@', quote_ident(:'schema')) \gexec

SELECT replace($create$
CREATE OR REPLACE FUNCTION @schema@.pf_audit_pseudonymise(
    p_seq            bigint,
    p_actor_id       varchar DEFAULT NULL,
    p_actor_display  varchar DEFAULT NULL,
    p_target_id      varchar DEFAULT NULL,
    p_target_display varchar DEFAULT NULL,
    p_ip_address     varchar DEFAULT NULL,
    p_user_agent     varchar DEFAULT NULL,
    p_request_path   varchar DEFAULT NULL,
    p_details        jsonb   DEFAULT NULL
)
    RETURNS void
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $body$
DECLARE
    r       @schema@.pf_audit_log%ROWTYPE;
    refused text;
BEGIN
    SELECT * INTO r FROM @schema@.pf_audit_log WHERE seq = p_seq FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pf_audit_pseudonymise: no audit row with seq %', p_seq
            USING ERRCODE = 'no_data_found';
    END IF;
    -- Error messages name the column, never a value: the values are personal data.
    IF NOT @schema@.pf_audit_may_replace(r.actor_id, p_actor_id) THEN
        refused := 'actor_id';
    ELSIF NOT @schema@.pf_audit_may_replace(r.actor_display, p_actor_display) THEN
        refused := 'actor_display';
    ELSIF NOT @schema@.pf_audit_may_replace(r.target_id, p_target_id) THEN
        refused := 'target_id';
    ELSIF NOT @schema@.pf_audit_may_replace(r.target_display, p_target_display) THEN
        refused := 'target_display';
    ELSIF NOT @schema@.pf_audit_may_replace(r.ip_address, p_ip_address) THEN
        refused := 'ip_address';
    ELSIF NOT @schema@.pf_audit_may_replace(r.user_agent, p_user_agent) THEN
        refused := 'user_agent';
    ELSIF p_request_path IS NOT NULL
          AND NOT @schema@.pf_audit_path_pseudonymised(r.request_path, p_request_path) THEN
        refused := 'request_path';
    ELSIF p_details IS NOT NULL
          AND NOT @schema@.pf_audit_json_pseudonymised(r.details, p_details) THEN
        refused := 'details';
    END IF;
    IF refused IS NOT NULL THEN
        RAISE EXCEPTION 'pf_audit_pseudonymise: % of audit row % may only change from an id or '
            'clear value to a pseudonym token', refused, p_seq
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE @schema@.pf_audit_log
       SET actor_id       = coalesce(p_actor_id, actor_id),
           actor_display  = coalesce(p_actor_display, actor_display),
           target_id      = coalesce(p_target_id, target_id),
           target_display = coalesce(p_target_display, target_display),
           ip_address     = coalesce(p_ip_address, ip_address),
           user_agent     = coalesce(p_user_agent, user_agent),
           request_path   = coalesce(p_request_path, request_path),
           details        = coalesce(p_details, details)
     WHERE seq = p_seq;
END
$body$
$create$, '@schema@', quote_ident(:'schema')) \gexec

REVOKE ALL ON FUNCTION :"schema".pf_audit_may_replace(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION :"schema".pf_audit_path_pseudonymised(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION :"schema".pf_audit_json_pseudonymised(jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION :"schema".pf_audit_pseudonymise(bigint, varchar, varchar, varchar,
    varchar, varchar, varchar, varchar, jsonb) FROM PUBLIC;
-- pathfinder_sealer gets it through its membership of pathfinder_app (deletion job).
GRANT EXECUTE ON FUNCTION :"schema".pf_audit_pseudonymise(bigint, varchar, varchar, varchar,
    varchar, varchar, varchar, varchar, jsonb) TO pathfinder_app;

COMMIT;
RESET ROLE;

-- 5. What the roles hold on the audit tables now. Expect: pathfinder_app SELECT, INSERT on
--    pf_audit_log and SELECT on the other two; pathfinder_sealer INSERT on leaves and
--    checkpoints (plus the column UPDATE for locking, shown in the second query).
SELECT grantee, table_name, string_agg(privilege_type, ', ' ORDER BY privilege_type) AS privileges
  FROM information_schema.role_table_grants
 WHERE table_schema = :'schema'
   AND table_name IN ('pf_audit_log', 'pf_audit_leaves', 'pf_audit_checkpoints')
   AND grantee IN ('pathfinder_app', 'pathfinder_sealer', 'PUBLIC')
 GROUP BY grantee, table_name
 ORDER BY grantee, table_name;
SELECT grantee, table_name, column_name, privilege_type
  FROM information_schema.column_privileges
 WHERE table_schema = :'schema' AND table_name LIKE 'pf\_audit\_%'
   AND privilege_type IN ('UPDATE', 'DELETE') AND grantee <> :'owner'
 ORDER BY grantee, table_name, column_name;
