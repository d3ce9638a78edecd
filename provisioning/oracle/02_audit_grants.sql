-- Pathfinder: users that may append to the audit log but not rewrite it (Oracle / ADB).
--
-- Run as ADMIN, with SQL*Plus or SQLcl, after `pathfinder db init` has created the audit
-- tables in the schema owner's schema:
--     sql admin@<tns_alias>
--     SQL> @provisioning/oracle/02_audit_grants.sql
-- It asks for two passwords (not echoed, not stored in this file). ADMIN is needed because the
-- script creates users (CREATE USER), creates a procedure in the owner's schema (CREATE ANY
-- PROCEDURE) and grants on the owner's tables (GRANT ANY OBJECT PRIVILEGE). The owner itself
-- still gets no CREATE PROCEDURE. Re-running is safe: "user already exists" (ORA-01920) is
-- expected then and ignored, and everything else is replaced or granted again.
--
-- READ THIS FIRST: on Oracle these grants do not yet constrain the running application.
-- Pathfinder's web workers and scheduler connect as the schema owner (PATHFINDER, see
-- provisioning/README.md), because they create and drop users' tables at run time. Oracle
-- never limits an owner on its own tables: the owner can UPDATE, DELETE, TRUNCATE or DROP
-- the audit tables whatever this script grants or revokes. The rights below take effect for
-- a process that connects as PF_APP or PF_AUDIT_SEALER, and the application cannot run as
-- either today (docs/dba.md, "Audit log rights", lists what is missing). Until then, the
-- second line of defence is what stands: the signed checkpoints exported outside the
-- database, which `pathfinder audit verify` compares with the tables.
--
-- The users (names set by the DEFINEs below):
--   PF_APP           the web application. On the audit tables: SELECT and INSERT on
--                    PF_AUDIT_LOG, READ on PF_AUDIT_LEAVES and PF_AUDIT_CHECKPOINTS, EXECUTE
--                    on PF_AUDIT_PSEUDONYMISE. READ is SELECT without SELECT ... FOR UPDATE
--                    and LOCK TABLE (12.1.0.2 and later), so the web user cannot hold the
--                    sealer's lock either.
--   PF_AUDIT_SEALER  the scheduler process, whose leader runs the sealer. The scheduler
--                    also writes audit rows of its own and runs the account-deletion job.
--                    SELECT and INSERT on all three tables, EXECUTE on
--                    PF_AUDIT_PSEUDONYMISE. SELECT, not READ, on PF_AUDIT_CHECKPOINTS: the
--                    sealer locks the newest checkpoint with SELECT ... FOR UPDATE.
--   Recommended: keep the sealer a user of its own, so that a compromised web process cannot
--   add leaves or checkpoints, that is, cannot seal rows into the tree. To let the web user
--   seal too (one user for both processes), set sealer_user to the same name as app_user
--   below. Its CREATE USER then fails with ORA-01920 and is skipped, and the web user gets
--   INSERT on the leaves and checkpoints.
-- Neither user gets UPDATE, DELETE, ALTER, INDEX, REFERENCES or any system privilege beyond
-- CREATE SESSION. Neither needs a quota: rows are charged to the table owner's quota, and
-- inserting into the identity column of PF_AUDIT_LOG needs no privilege on its sequence.
--
-- The one change the log allows, pseudonymisation at account erasure, goes through the
-- definer-rights procedure PF_AUDIT_PSEUDONYMISE (section 3). The application does not call
-- it yet. Today pathfinder.audit.pseudonymise_user UPDATEs PF_AUDIT_LOG directly, and as
-- PF_APP that UPDATE is refused (ORA-01031), so account deletion would stop halfway.

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET VERIFY OFF
SET FEEDBACK ON
SET SQLBLANKLINES ON

DEFINE schema_owner = PATHFINDER
DEFINE app_user     = PF_APP
DEFINE sealer_user  = PF_AUDIT_SEALER
ACCEPT app_password    CHAR PROMPT 'Password for &&app_user (ADB rules: 12-30 chars, upper, lower, digit; no "): ' HIDE
ACCEPT sealer_password CHAR PROMPT 'Password for &&sealer_user (ignored when it is the same user): ' HIDE

-- 1. The users: no quota, no role. On a re-run they exist already: CREATE USER fails with
--    ORA-01920, which is ignored, and the passwords typed are not used (ALTER USER changes
--    a password).
WHENEVER SQLERROR CONTINUE
CREATE USER &&app_user IDENTIFIED BY "&&app_password";
CREATE USER &&sealer_user IDENTIFIED BY "&&sealer_password";
WHENEVER SQLERROR EXIT SQL.SQLCODE
GRANT CREATE SESSION TO &&app_user;
GRANT CREATE SESSION TO &&sealer_user;

-- 2. The audit tables: read and append.
GRANT SELECT, INSERT ON &&schema_owner..PF_AUDIT_LOG         TO &&app_user;
GRANT READ           ON &&schema_owner..PF_AUDIT_LEAVES      TO &&app_user;
GRANT READ           ON &&schema_owner..PF_AUDIT_CHECKPOINTS TO &&app_user;
GRANT SELECT, INSERT ON &&schema_owner..PF_AUDIT_LOG         TO &&sealer_user;
GRANT SELECT, INSERT ON &&schema_owner..PF_AUDIT_LEAVES      TO &&sealer_user;
GRANT SELECT, INSERT ON &&schema_owner..PF_AUDIT_CHECKPOINTS TO &&sealer_user;

-- 3. Pseudonymisation, owned by the schema owner, run with the owner's rights. ADMIN
--    creates it in the owner's schema with CREATE ANY PROCEDURE. If your ADMIN lacks that
--    privilege (ORA-01031 here), grant CREATE PROCEDURE to the owner, run this section and
--    its GRANTs connected as the owner, then revoke CREATE PROCEDURE again.
--
--    PF_AUDIT_PSEUDONYMISE changes one row, found by seq, and only these eight columns:
--    actor_id, actor_display, target_id, target_display, ip_address, user_agent,
--    request_path, details. A NULL argument leaves its column as it is, so no column can be
--    set to NULL through it. A token is '~' followed by 25 characters of [a-z2-7], as
--    pathfinder.audit.hashing makes them. An id is a ULID (26 characters of Crockford
--    base32, first digit 0-7). The procedure refuses with ORA-20101, and changes nothing,
--    unless every argument given obeys the rule for its column:
--      actor_id, actor_display, target_id, target_display, ip_address, user_agent:
--          the value as stored, or a token in place of a stored value that is not NULL and
--          not already a token;
--      request_path: the stored path with some '/'-separated segments that are ids
--          replaced by tokens, every other segment unchanged;
--      details (JSON text in a CLOB): the stored text with some "<id>" strings replaced by
--          "<token>" in place, every other character unchanged. Pass the stored text with
--          the ids replaced, not a re-serialised document: other spacing or key order is
--          refused. This is a check on the text. It does not tell a JSON key from a value,
--          or a string that is an id from an id quoted inside a longer string.
--    An unknown seq raises ORA-20100. The error messages name the column, never a value.
--    It cannot tell whether a token is the right one. Only the HMAC key can, and the
--    database does not hold it. `pathfinder audit verify` finds a row whose token is wrong,
--    or whose details were changed in a way the hash does not allow: its hash input no
--    longer matches row_hash. Nor does it check that the row is about a deleted account:
--    the web user would be able to change PF_USERS, so such a check would prove nothing.
--    What it guarantees: through it, a caller can replace identifying values by pseudonyms
--    and do nothing else. It cannot change what happened, when, to what, or with what
--    outcome, and it cannot remove, reorder or add rows.
--    It runs in the caller's transaction and does not commit. Static SQL only: every value
--    is a bind, nothing is executed dynamically. A call, from the application's user:
--      BEGIN PATHFINDER.pf_audit_pseudonymise(p_seq => :seq, p_actor_id => :pseudonym,
--                                             p_ip_address => :ip_token); END;

CREATE OR REPLACE PROCEDURE &&schema_owner..pf_audit_pseudonymise (
    p_seq            IN NUMBER,
    p_actor_id       IN VARCHAR2 DEFAULT NULL,
    p_actor_display  IN VARCHAR2 DEFAULT NULL,
    p_target_id      IN VARCHAR2 DEFAULT NULL,
    p_target_display IN VARCHAR2 DEFAULT NULL,
    p_ip_address     IN VARCHAR2 DEFAULT NULL,
    p_user_agent     IN VARCHAR2 DEFAULT NULL,
    p_request_path   IN VARCHAR2 DEFAULT NULL,
    p_details        IN CLOB     DEFAULT NULL
)
AUTHID DEFINER
IS
    -- Explicit character lists rather than ranges: ranges follow the session's NLS_SORT.
    c_id    CONSTANT VARCHAR2(60) := '[01234567][0123456789ABCDEFGHJKMNPQRSTVWXYZ]{25}';
    c_token CONSTANT VARCHAR2(60) := '~[abcdefghijklmnopqrstuvwxyz234567]{25}';
    r       pf_audit_log%ROWTYPE;
    refused VARCHAR2(30);

    FUNCTION is_id(p_value IN VARCHAR2) RETURN BOOLEAN IS
    BEGIN
        RETURN p_value IS NOT NULL AND LENGTH(p_value) = 26
            AND REGEXP_LIKE(p_value, '^' || c_id || '$', 'c');
    END is_id;

    FUNCTION is_token(p_value IN VARCHAR2) RETURN BOOLEAN IS
    BEGIN
        RETURN p_value IS NOT NULL AND LENGTH(p_value) = 26
            AND REGEXP_LIKE(p_value, '^' || c_token || '$', 'c');
    END is_token;

    FUNCTION same(p_a IN VARCHAR2, p_b IN VARCHAR2) RETURN BOOLEAN IS
    BEGIN
        RETURN (p_a IS NULL AND p_b IS NULL)
            OR (p_a IS NOT NULL AND p_b IS NOT NULL AND p_a = p_b);
    END same;

    -- NULL: keep the column. Otherwise the value as stored, or a token replacing a stored
    -- value that is neither NULL nor already a token.
    FUNCTION may_replace(p_old IN VARCHAR2, p_new IN VARCHAR2) RETURN BOOLEAN IS
    BEGIN
        RETURN p_new IS NULL
            OR same(p_old, p_new)
            OR (p_old IS NOT NULL AND NOT is_token(p_old) AND is_token(p_new));
    END may_replace;

    -- The stored path with some '/'-separated segments that are ids replaced by tokens.
    FUNCTION path_ok(p_old IN VARCHAR2, p_new IN VARCHAR2) RETURN BOOLEAN IS
        o_from PLS_INTEGER := 1;
        n_from PLS_INTEGER := 1;
        o_to   PLS_INTEGER;
        n_to   PLS_INTEGER;
        o_seg  pf_audit_log.request_path%TYPE;
        n_seg  pf_audit_log.request_path%TYPE;
    BEGIN
        IF p_old IS NULL OR LENGTH(p_old) <> LENGTH(p_new) THEN
            RETURN FALSE;
        END IF;
        LOOP
            o_to := INSTR(p_old, '/', o_from);
            n_to := INSTR(p_new, '/', n_from);
            IF o_to = 0 THEN
                o_seg := SUBSTR(p_old, o_from);
            ELSE
                o_seg := SUBSTR(p_old, o_from, o_to - o_from);
            END IF;
            IF n_to = 0 THEN
                n_seg := SUBSTR(p_new, n_from);
            ELSE
                n_seg := SUBSTR(p_new, n_from, n_to - n_from);
            END IF;
            IF NOT (same(o_seg, n_seg) OR (is_id(o_seg) AND is_token(n_seg))) THEN
                RETURN FALSE;
            END IF;
            IF o_to = 0 OR n_to = 0 THEN
                RETURN o_to = 0 AND n_to = 0;
            END IF;
            o_from := o_to + 1;
            n_from := n_to + 1;
        END LOOP;
    END path_ok;

    -- The stored JSON text with some "<id>" strings replaced by "<token>" in place. Both are
    -- 26 characters, so every other character keeps its position.
    FUNCTION details_ok(p_old IN CLOB, p_new IN CLOB) RETURN BOOLEAN IS
        expected CLOB;
        pos      INTEGER := 1;
        win      VARCHAR2(28 CHAR);
    BEGIN
        IF p_old IS NULL OR DBMS_LOB.GETLENGTH(p_old) <> DBMS_LOB.GETLENGTH(p_new) THEN
            RETURN FALSE;
        END IF;
        expected := p_old;
        LOOP
            pos := REGEXP_INSTR(p_old, '"' || c_id || '"', pos, 1, 0, 'c');
            EXIT WHEN pos = 0;
            win := DBMS_LOB.SUBSTR(p_new, 28, pos);
            IF REGEXP_LIKE(win, '^"' || c_token || '"$', 'c') THEN
                expected := SUBSTR(expected, 1, pos - 1) || win || SUBSTR(expected, pos + 28);
            END IF;
            pos := pos + 28;
        END LOOP;
        RETURN DBMS_LOB.COMPARE(expected, p_new) = 0;
    END details_ok;
BEGIN
    BEGIN
        SELECT * INTO r FROM pf_audit_log WHERE seq = p_seq FOR UPDATE;
    EXCEPTION
        WHEN NO_DATA_FOUND THEN
            RAISE_APPLICATION_ERROR(-20100,
                'pf_audit_pseudonymise: no audit row with seq ' || TO_CHAR(p_seq));
    END;

    IF NOT may_replace(r.actor_id, p_actor_id) THEN
        refused := 'actor_id';
    ELSIF NOT may_replace(r.actor_display, p_actor_display) THEN
        refused := 'actor_display';
    ELSIF NOT may_replace(r.target_id, p_target_id) THEN
        refused := 'target_id';
    ELSIF NOT may_replace(r.target_display, p_target_display) THEN
        refused := 'target_display';
    ELSIF NOT may_replace(r.ip_address, p_ip_address) THEN
        refused := 'ip_address';
    ELSIF NOT may_replace(r.user_agent, p_user_agent) THEN
        refused := 'user_agent';
    ELSIF p_request_path IS NOT NULL AND NOT path_ok(r.request_path, p_request_path) THEN
        refused := 'request_path';
    ELSIF p_details IS NOT NULL AND NOT details_ok(r.details, p_details) THEN
        refused := 'details';
    END IF;
    IF refused IS NOT NULL THEN
        RAISE_APPLICATION_ERROR(-20101,
            'pf_audit_pseudonymise: ' || refused || ' of audit row ' || TO_CHAR(p_seq)
            || ' may only change from an id or clear value to a pseudonym token');
    END IF;

    UPDATE pf_audit_log
       SET actor_id       = NVL(p_actor_id, actor_id),
           actor_display  = NVL(p_actor_display, actor_display),
           target_id      = NVL(p_target_id, target_id),
           target_display = NVL(p_target_display, target_display),
           ip_address     = NVL(p_ip_address, ip_address),
           user_agent     = NVL(p_user_agent, user_agent),
           request_path   = NVL(p_request_path, request_path),
           details        = NVL(p_details, details)
     WHERE seq = p_seq;
END pf_audit_pseudonymise;
/

-- CREATE PROCEDURE with compilation errors is only a warning to SQL*Plus: show the errors,
-- then stop the script if there are any.
SHOW ERRORS PROCEDURE &&schema_owner..pf_audit_pseudonymise
DECLARE
    n PLS_INTEGER;
BEGIN
    SELECT COUNT(*) INTO n FROM dba_errors
     WHERE owner = UPPER('&&schema_owner') AND name = 'PF_AUDIT_PSEUDONYMISE';
    IF n > 0 THEN
        RAISE_APPLICATION_ERROR(-20000, 'PF_AUDIT_PSEUDONYMISE did not compile (errors above)');
    END IF;
END;
/

GRANT EXECUTE ON &&schema_owner..pf_audit_pseudonymise TO &&app_user;
GRANT EXECUTE ON &&schema_owner..pf_audit_pseudonymise TO &&sealer_user;

-- 4. Check. Expect, on the audit tables: app_user SELECT and INSERT on PF_AUDIT_LOG and READ
--    on the other two; sealer_user SELECT and INSERT on all three; both EXECUTE on the
--    procedure; CREATE SESSION as their only system privilege, and no roles.
SELECT grantee, table_name, privilege FROM dba_tab_privs
 WHERE owner = UPPER('&&schema_owner')
   AND table_name IN ('PF_AUDIT_LOG', 'PF_AUDIT_LEAVES', 'PF_AUDIT_CHECKPOINTS',
                      'PF_AUDIT_PSEUDONYMISE')
 ORDER BY grantee, table_name, privilege;
SELECT grantee, privilege FROM dba_sys_privs
 WHERE grantee IN (UPPER('&&app_user'), UPPER('&&sealer_user')) ORDER BY grantee, privilege;
SELECT grantee, granted_role FROM dba_role_privs
 WHERE grantee IN (UPPER('&&app_user'), UPPER('&&sealer_user')) ORDER BY grantee, granted_role;
-- Stop with an error if anyone but the owner may change an audit table through an object
-- grant (table- or column-level): UPDATE, DELETE, ALTER, INDEX, ... All such grants are
-- counted, whoever made them and to whomever, PUBLIC included. (Users with system privileges
-- such as UPDATE ANY TABLE, ADMIN among them, are outside this check.)
DECLARE
    n PLS_INTEGER;
BEGIN
    SELECT COUNT(*) INTO n FROM (
        SELECT privilege FROM dba_tab_privs
         WHERE owner = UPPER('&&schema_owner')
           AND table_name IN ('PF_AUDIT_LOG', 'PF_AUDIT_LEAVES', 'PF_AUDIT_CHECKPOINTS')
           AND privilege NOT IN ('SELECT', 'READ', 'INSERT')
        UNION ALL
        SELECT privilege FROM dba_col_privs
         WHERE owner = UPPER('&&schema_owner')
           AND table_name IN ('PF_AUDIT_LOG', 'PF_AUDIT_LEAVES', 'PF_AUDIT_CHECKPOINTS')
           AND privilege NOT IN ('SELECT', 'READ', 'INSERT'));
    IF n > 0 THEN
        RAISE_APPLICATION_ERROR(-20001, TO_CHAR(n) || ' grant(s) let someone other than '
            || UPPER('&&schema_owner') || ' change an audit table: revoke them');
    END IF;
END;
/

UNDEFINE app_password
UNDEFINE sealer_password
