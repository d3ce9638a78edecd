-- Pathfinder: create the application schema owner on Oracle Autonomous Database.
--
-- Run once, as ADMIN, with SQL*Plus or SQLcl:
--     sql admin@<tns_alias>   (or: sql admin@'<TLS connect string>')
--     SQL> @provisioning/oracle/01_create_schema_owner.sql
-- The script asks for the new password (not echoed, not stored in this file). Change the
-- DEFINE below to use another schema name; Pathfinder only needs its URL to name this user.
--
-- What the owner gets, and why nothing more:
--   CREATE SESSION            connect.
--   CREATE TABLE              shared tables, every user's pf_user_<username>_* tables and
--                             their indexes (indexes on one's own tables need no privilege);
--                             also needed for the materialized view's container table.
--   CREATE VIEW               each user's career_summary view.
--   CREATE MATERIALIZED VIEW  pf_mv_user_stats.
--   CREATE SEQUENCE           the identity column pf_audit_log.seq (Oracle makes a system
--                             sequence for it, and needs this privilege to do so).
--   QUOTA UNLIMITED ON DATA   room for the tables (DATA is Autonomous Database's tablespace;
--                             put a size, e.g. QUOTA 200G ON DATA, to cap growth).
-- Not granted here, because the application needs none: CREATE PROCEDURE / CREATE TRIGGER
-- (02_audit_grants.sql creates the audit pseudonymisation procedure as ADMIN; the refresh
-- job runs an anonymous block), any *ANY* privilege, DWROLE, DBA, UNLIMITED
-- TABLESPACE. Privileges are granted directly, not through a role: Oracle ignores roles
-- when it checks the privileges for creating a materialized view.
--
-- Refreshing pf_mv_user_stats calls DBMS_MVIEW.REFRESH on the owner's own materialized view.
-- EXECUTE on DBMS_MVIEW is normally granted to PUBLIC; the check at the end shows whether it
-- is on this database. If it shows no row, grant it (as ADMIN, or ask Oracle support on ADB):
--     GRANT EXECUTE ON SYS.DBMS_MVIEW TO &&schema_owner;

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET VERIFY OFF
SET FEEDBACK ON

DEFINE schema_owner = PATHFINDER
ACCEPT owner_password CHAR PROMPT 'Password for &&schema_owner (ADB rules: 12-30 chars, upper, lower, digit; no "): ' HIDE

CREATE USER &&schema_owner IDENTIFIED BY "&&owner_password"
    DEFAULT TABLESPACE DATA
    QUOTA UNLIMITED ON DATA;

GRANT CREATE SESSION, CREATE TABLE, CREATE VIEW, CREATE MATERIALIZED VIEW, CREATE SEQUENCE
  TO &&schema_owner;

-- Show what the owner has now (expect exactly the four privileges and the DATA quota).
SELECT privilege FROM dba_sys_privs WHERE grantee = UPPER('&&schema_owner') ORDER BY privilege;
SELECT tablespace_name, max_bytes FROM dba_ts_quotas WHERE username = UPPER('&&schema_owner');
SELECT granted_role FROM dba_role_privs WHERE grantee = UPPER('&&schema_owner');
-- EXECUTE on DBMS_MVIEW: through PUBLIC or granted directly (see the note above).
SELECT grantee, privilege FROM dba_tab_privs
 WHERE owner = 'SYS' AND table_name IN ('DBMS_MVIEW', 'DBMS_SNAPSHOT')
   AND grantee IN ('PUBLIC', UPPER('&&schema_owner'));

UNDEFINE owner_password
