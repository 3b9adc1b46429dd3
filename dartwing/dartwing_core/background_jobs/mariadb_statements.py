"""Generated: do not edit. Rewrite with `DARTWING_WRITE_PRECOMPILED=1` and the contract test
tests/frappe_contract/test_precompiled_sql.py, which also checks in CI that the entries are exactly
what the Frappe runtime's job and submit paths run; tests/test_precompiled_sql.py checks that each
is what sql.to_mariadb compiles today.

(statement key, sorted parameter names) -> (MariaDB text, fixed values the text binds).
"""

STATEMENTS: dict[tuple[str, tuple[str, ...]], tuple[str, dict]] = {
    ('context._CANCEL_REQUESTED', ('job_name',)): (
        'SELECT `tabBackground Job`.cancel_requested \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.name = %(job_name)s',
        {},
    ),
    ('context._LEASE', ('job_name',)): (
        'SELECT `tabBackground Job`.status, `tabBackground Job`.attempt, `tabBackground Job`.cancel_requested \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.name = %(job_name)s',
        {},
    ),
    ('dependencies._COUNT_DOWN', ('child',)): (
        'UPDATE `tabBackground Job` SET open_parents=(`tabBackground Job`.open_parents - %(open_parents_1)s) WHERE `tabBackground Job`.name = %(child)s AND `tabBackground Job`.status = %(status_1)s',
        {'open_parents_1': 1, 'status_1': 'Pending'},
    ),
    ('dependencies._INSERT_DEPENDENCY', ('creation', 'depends_on', 'idx', 'modified', 'modified_by', 'name', 'owner', 'parent', 'parentfield', 'parenttype', 'runs_on_failure', 'settled')): (
        'INSERT INTO `tabJob Dependency` (name, creation, modified, modified_by, owner, idx, depends_on, runs_on_failure, settled, parent, parentfield, parenttype) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(idx)s, %(depends_on)s, %(runs_on_failure)s, %(settled)s, %(parent)s, %(parentfield)s, %(parenttype)s)',
        {},
    ),
    ('dependencies._PARENTS', ('job_name',)): (
        'SELECT `tabJob Dependency`.depends_on, `tabJob Dependency`.runs_on_failure, `tabBackground Job`.status, `tabBackground Job`.output_reference, `tabBackground Job`.error_message \nFROM `tabJob Dependency` LEFT OUTER JOIN `tabBackground Job` ON `tabBackground Job`.name = `tabJob Dependency`.depends_on \nWHERE `tabJob Dependency`.parent = %(job_name)s ORDER BY `tabJob Dependency`.idx',
        {},
    ),
    ('dependencies._SETTLE', ('dependency',)): (
        'UPDATE `tabJob Dependency` SET settled=%(settled)s WHERE `tabJob Dependency`.name = %(dependency)s AND `tabJob Dependency`.settled = %(settled_1)s',
        {'settled': 1, 'settled_1': 0},
    ),
    ('dependencies._WAITING_CHILDREN', ('parent_job',)): (
        'SELECT `tabJob Dependency`.name, `tabJob Dependency`.parent, `tabJob Dependency`.runs_on_failure \nFROM `tabJob Dependency` INNER JOIN `tabBackground Job` ON `tabBackground Job`.name = `tabJob Dependency`.parent \nWHERE `tabJob Dependency`.depends_on = %(parent_job)s AND `tabBackground Job`.status = %(status_1)s ORDER BY `tabJob Dependency`.parent',
        {'status_1': 'Pending'},
    ),
    ('execution._CLAIM_READ', ('job_name',)): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.job_type, `tabBackground Job`.organization, `tabBackground Job`.owner, `tabBackground Job`.status, `tabBackground Job`.priority, `tabBackground Job`.parameters, `tabBackground Job`.attempt, `tabBackground Job`.retry_count, `tabBackground Job`.snooze_count, `tabBackground Job`.max_retries, `tabBackground Job`.timeout, `tabBackground Job`.depends_on, `tabBackground Job`.worker, `tabBackground Job`.output_reference, `tabBackground Job`.error_message, `tabJob Type`.handler_method, `tabOrganization`.max_concurrent_jobs, `tabJob Type`.max_concurrent_per_org, `tabJob Type`.rate_limit_count, `tabJob Type`.rate_limit_period, `tabJob Type`.rate_limit_per_org \nFROM `tabBackground Job` LEFT OUTER JOIN `tabJob Type` ON `tabJob Type`.name = `tabBackground Job`.job_type LEFT OUTER JOIN `tabOrganization` ON `tabOrganization`.name = `tabBackground Job`.organization \nWHERE `tabBackground Job`.name = %(job_name)s',
        {},
    ),
    ('lifecycle._INSERT_LOG', ('attempt', 'background_job', 'creation', 'duration_ms', 'error_type', 'from_status', 'message', 'modified', 'modified_by', 'name', 'organization', 'owner', 'timestamp', 'to_status', 'worker')): (
        'INSERT INTO `tabJob Execution Log` (name, creation, modified, modified_by, owner, background_job, organization, from_status, to_status, attempt, timestamp, duration_ms, worker, error_type, message) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(background_job)s, %(organization)s, %(from_status)s, %(to_status)s, %(attempt)s, %(timestamp)s, %(duration_ms)s, %(worker)s, %(error_type)s, %(message)s)',
        {},
    ),
    ('lifecycle._SET_IF_STATUS', ('completed_at', 'error_message', 'job_hash', 'modified', 'modified_by', 'status', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, error_message=%(error_message)s, completed_at=%(completed_at)s, job_hash=%(job_hash)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS', ('modified', 'modified_by', 'next_retry_at', 'queued_at', 'rq_job_id', 'status', 'where_name', 'where_status', 'worker')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, next_retry_at=%(next_retry_at)s, queued_at=%(queued_at)s, worker=%(worker)s, rq_job_id=%(rq_job_id)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT', ('attempt', 'cancel_requested', 'completed_at', 'heartbeat_at', 'modified', 'modified_by', 'started_at', 'status', 'where_attempt', 'where_name', 'where_status', 'worker')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, cancel_requested=%(cancel_requested)s, attempt=%(attempt)s, started_at=%(started_at)s, completed_at=%(completed_at)s, heartbeat_at=%(heartbeat_at)s, worker=%(worker)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT', ('attempt', 'modified', 'modified_by', 'next_retry_at', 'rq_job_id', 'status', 'where_attempt', 'where_name', 'where_status', 'worker')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, next_retry_at=%(next_retry_at)s, attempt=%(attempt)s, worker=%(worker)s, rq_job_id=%(rq_job_id)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT', ('completed_at', 'error_message', 'error_type', 'job_hash', 'modified', 'modified_by', 'next_retry_at', 'output_reference', 'progress', 'result', 'status', 'traceback', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, progress=%(progress)s, output_reference=%(output_reference)s, result=%(result)s, error_type=%(error_type)s, error_message=%(error_message)s, traceback=%(traceback)s, next_retry_at=%(next_retry_at)s, completed_at=%(completed_at)s, job_hash=%(job_hash)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT', ('completed_at', 'job_hash', 'modified', 'modified_by', 'status', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, completed_at=%(completed_at)s, job_hash=%(job_hash)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT', ('error_message', 'error_type', 'modified', 'modified_by', 'next_retry_at', 'status', 'traceback', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, error_type=%(error_type)s, error_message=%(error_message)s, traceback=%(traceback)s, next_retry_at=%(next_retry_at)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS', ('completed_at', 'error_message', 'error_type', 'job_hash', 'modified', 'modified_by', 'next_retry_at', 'output_reference', 'progress', 'result', 'status', 'traceback', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, progress=%(progress)s, output_reference=%(output_reference)s, result=%(result)s, error_type=%(error_type)s, error_message=%(error_message)s, traceback=%(traceback)s, next_retry_at=%(next_retry_at)s, completed_at=%(completed_at)s, job_hash=%(job_hash)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s AND NOT (EXISTS (SELECT `tabJob Dependency`.name \nFROM `tabJob Dependency` \nWHERE `tabJob Dependency`.depends_on = `tabBackground Job`.name))',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS', ('completed_at', 'job_hash', 'modified', 'modified_by', 'status', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, completed_at=%(completed_at)s, job_hash=%(job_hash)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s AND NOT (EXISTS (SELECT `tabJob Dependency`.name \nFROM `tabJob Dependency` \nWHERE `tabJob Dependency`.depends_on = `tabBackground Job`.name))',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS', ('error_message', 'error_type', 'modified', 'modified_by', 'next_retry_at', 'retry_count', 'status', 'traceback', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, error_type=%(error_type)s, error_message=%(error_message)s, traceback=%(traceback)s, retry_count=%(retry_count)s, next_retry_at=%(next_retry_at)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s AND NOT (EXISTS (SELECT `tabJob Dependency`.name \nFROM `tabJob Dependency` \nWHERE `tabJob Dependency`.depends_on = `tabBackground Job`.name))',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS', ('error_message', 'error_type', 'modified', 'modified_by', 'next_retry_at', 'status', 'traceback', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, error_type=%(error_type)s, error_message=%(error_message)s, traceback=%(traceback)s, next_retry_at=%(next_retry_at)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s AND NOT (EXISTS (SELECT `tabJob Dependency`.name \nFROM `tabJob Dependency` \nWHERE `tabJob Dependency`.depends_on = `tabBackground Job`.name))',
        {},
    ),
    ('lifecycle._SET_IF_STATUS_AND_ATTEMPT_CHILDLESS', ('modified', 'modified_by', 'run_at', 'snooze_count', 'status', 'where_attempt', 'where_name', 'where_status')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, modified_by=%(modified_by)s, status=%(status)s, run_at=%(run_at)s, snooze_count=%(snooze_count)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.status = %(where_status)s AND `tabBackground Job`.attempt = %(where_attempt)s AND NOT (EXISTS (SELECT `tabJob Dependency`.name \nFROM `tabJob Dependency` \nWHERE `tabJob Dependency`.depends_on = `tabBackground Job`.name))',
        {},
    ),
    ('rate_limits._COUNT', ('job_type', 'since')): (
        'SELECT count(*) AS count_1 \nFROM `tabJob Start` \nWHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at > %(since)s',
        {},
    ),
    ('rate_limits._COUNT_OF_ORG', ('job_type', 'organization', 'since')): (
        'SELECT count(*) AS count_1 \nFROM `tabJob Start` \nWHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at > %(since)s AND `tabJob Start`.organization = %(organization)s',
        {},
    ),
    ('rate_limits._DUE', ('job_type', 'now')): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.creation, `tabBackground Job`.modified, `tabBackground Job`.modified_by, `tabBackground Job`.owner, `tabBackground Job`.docstatus, `tabBackground Job`.idx, `tabBackground Job`.job_type, `tabBackground Job`.organization, `tabBackground Job`.depends_on, `tabBackground Job`.open_parents, `tabBackground Job`.status, `tabBackground Job`.priority, `tabBackground Job`.cancel_requested, `tabBackground Job`.progress, `tabBackground Job`.progress_message, `tabBackground Job`.output_reference, `tabBackground Job`.parameters, `tabBackground Job`.result, `tabBackground Job`.error_type, `tabBackground Job`.error_message, `tabBackground Job`.traceback, `tabBackground Job`.retry_count, `tabBackground Job`.max_retries, `tabBackground Job`.next_retry_at, `tabBackground Job`.run_at, `tabBackground Job`.snooze_count, `tabBackground Job`.timeout, `tabBackground Job`.attempt, `tabBackground Job`.queued_at, `tabBackground Job`.started_at, `tabBackground Job`.completed_at, `tabBackground Job`.heartbeat_at, `tabBackground Job`.worker, `tabBackground Job`.rq_job_id, `tabBackground Job`.parameters_hash, `tabBackground Job`.job_hash, `tabBackground Job`._user_tags, `tabBackground Job`._comments, `tabBackground Job`._assign, `tabBackground Job`._liked_by \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.status = %(status_1)s AND `tabBackground Job`.next_retry_at <= %(now)s AND `tabBackground Job`.job_type = %(job_type)s ORDER BY `tabBackground Job`.next_retry_at, `tabBackground Job`.name \n LIMIT %(param_1)s',
        {'status_1': 'Pending', 'param_1': 500},
    ),
    ('rate_limits._INSERT_START', ('background_job', 'creation', 'job_type', 'modified', 'modified_by', 'name', 'organization', 'owner', 'started_at')): (
        'INSERT INTO `tabJob Start` (name, creation, modified, modified_by, owner, job_type, organization, background_job, started_at) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(job_type)s, %(organization)s, %(background_job)s, %(started_at)s)',
        {},
    ),
    ('rate_limits._LOCK_JOB_TYPE', ('job_type',)): (
        'SELECT `tabJob Type`.name \nFROM `tabJob Type` \nWHERE `tabJob Type`.name = %(job_type)s FOR UPDATE',
        {},
    ),
    ('rate_limits._PRUNE', ('job_type', 'since')): (
        'DELETE FROM `tabJob Start` WHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at <= %(since)s',
        {},
    ),
    ('rate_limits._PRUNE_OF_ORG', ('job_type', 'organization', 'since')): (
        'DELETE FROM `tabJob Start` WHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at <= %(since)s AND `tabJob Start`.organization = %(organization)s',
        {},
    ),
    ('rate_limits._QUEUED', ('job_type',)): (
        'SELECT count(*) AS count_1 \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.status = %(status_1)s AND `tabBackground Job`.job_type = %(job_type)s',
        {'status_1': 'Queued'},
    ),
    ('rate_limits._QUEUED_OF_ORG', ('job_type', 'organization')): (
        'SELECT count(*) AS count_1 \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.status = %(status_1)s AND `tabBackground Job`.job_type = %(job_type)s AND `tabBackground Job`.organization = %(organization)s',
        {'status_1': 'Queued'},
    ),
    ('rate_limits._STARTS', ('count', 'job_type', 'since')): (
        'SELECT `tabJob Start`.started_at \nFROM `tabJob Start` \nWHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at > %(since)s ORDER BY `tabJob Start`.started_at \n LIMIT %(count)s FOR UPDATE',
        {},
    ),
    ('rate_limits._STARTS_OF_ORG', ('count', 'job_type', 'organization', 'since')): (
        'SELECT `tabJob Start`.started_at \nFROM `tabJob Start` \nWHERE `tabJob Start`.job_type = %(job_type)s AND `tabJob Start`.started_at > %(since)s AND `tabJob Start`.organization = %(organization)s ORDER BY `tabJob Start`.started_at \n LIMIT %(count)s FOR UPDATE',
        {},
    ),
    ('records._JOB', ('job_name',)): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.creation, `tabBackground Job`.modified, `tabBackground Job`.modified_by, `tabBackground Job`.owner, `tabBackground Job`.docstatus, `tabBackground Job`.idx, `tabBackground Job`.job_type, `tabBackground Job`.organization, `tabBackground Job`.depends_on, `tabBackground Job`.open_parents, `tabBackground Job`.status, `tabBackground Job`.priority, `tabBackground Job`.cancel_requested, `tabBackground Job`.progress, `tabBackground Job`.progress_message, `tabBackground Job`.output_reference, `tabBackground Job`.parameters, `tabBackground Job`.result, `tabBackground Job`.error_type, `tabBackground Job`.error_message, `tabBackground Job`.traceback, `tabBackground Job`.retry_count, `tabBackground Job`.max_retries, `tabBackground Job`.next_retry_at, `tabBackground Job`.run_at, `tabBackground Job`.snooze_count, `tabBackground Job`.timeout, `tabBackground Job`.attempt, `tabBackground Job`.queued_at, `tabBackground Job`.started_at, `tabBackground Job`.completed_at, `tabBackground Job`.heartbeat_at, `tabBackground Job`.worker, `tabBackground Job`.rq_job_id, `tabBackground Job`.parameters_hash, `tabBackground Job`.job_hash, `tabBackground Job`._user_tags, `tabBackground Job`._comments, `tabBackground Job`._assign, `tabBackground Job`._liked_by \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.name = %(job_name)s',
        {},
    ),
    ('records._JOB_FOR_UPDATE', ('job_name',)): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.creation, `tabBackground Job`.modified, `tabBackground Job`.modified_by, `tabBackground Job`.owner, `tabBackground Job`.docstatus, `tabBackground Job`.idx, `tabBackground Job`.job_type, `tabBackground Job`.organization, `tabBackground Job`.depends_on, `tabBackground Job`.open_parents, `tabBackground Job`.status, `tabBackground Job`.priority, `tabBackground Job`.cancel_requested, `tabBackground Job`.progress, `tabBackground Job`.progress_message, `tabBackground Job`.output_reference, `tabBackground Job`.parameters, `tabBackground Job`.result, `tabBackground Job`.error_type, `tabBackground Job`.error_message, `tabBackground Job`.traceback, `tabBackground Job`.retry_count, `tabBackground Job`.max_retries, `tabBackground Job`.next_retry_at, `tabBackground Job`.run_at, `tabBackground Job`.snooze_count, `tabBackground Job`.timeout, `tabBackground Job`.attempt, `tabBackground Job`.queued_at, `tabBackground Job`.started_at, `tabBackground Job`.completed_at, `tabBackground Job`.heartbeat_at, `tabBackground Job`.worker, `tabBackground Job`.rq_job_id, `tabBackground Job`.parameters_hash, `tabBackground Job`.job_hash, `tabBackground Job`._user_tags, `tabBackground Job`._comments, `tabBackground Job`._assign, `tabBackground Job`._liked_by \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.name = %(job_name)s FOR UPDATE',
        {},
    ),
    ('records._JOB_TYPE', ('job_type',)): (
        'SELECT `tabJob Type`.name, `tabJob Type`.creation, `tabJob Type`.modified, `tabJob Type`.modified_by, `tabJob Type`.owner, `tabJob Type`.docstatus, `tabJob Type`.idx, `tabJob Type`.type_name, `tabJob Type`.display_name, `tabJob Type`.handler_method, `tabJob Type`.description, `tabJob Type`.is_enabled, `tabJob Type`.queue, `tabJob Type`.default_priority, `tabJob Type`.default_timeout, `tabJob Type`.max_retries, `tabJob Type`.deduplication_window, `tabJob Type`.max_concurrent_per_org, `tabJob Type`.rate_limit_count, `tabJob Type`.rate_limit_period, `tabJob Type`.rate_limit_per_org, `tabJob Type`.requires_role, `tabJob Type`._user_tags, `tabJob Type`._comments, `tabJob Type`._assign, `tabJob Type`._liked_by \nFROM `tabJob Type` \nWHERE `tabJob Type`.name = %(job_type)s',
        {},
    ),
    ('records._UPDATE_OWN_ATTEMPT', ('heartbeat_at', 'modified', 'progress', 'progress_message', 'where_attempt', 'where_name')): (
        'UPDATE `tabBackground Job` SET modified=%(modified)s, progress=%(progress)s, progress_message=%(progress_message)s, heartbeat_at=%(heartbeat_at)s WHERE `tabBackground Job`.name = %(where_name)s AND `tabBackground Job`.attempt = %(where_attempt)s AND `tabBackground Job`.status = %(status_1)s',
        {'status_1': 'Running'},
    ),
    ('release._CAPS', ('job_type', 'organization')): (
        'SELECT `tabOrganization`.max_concurrent_jobs, `tabJob Type`.max_concurrent_per_org, `tabJob Type`.queue \nFROM `tabOrganization` INNER JOIN `tabJob Type` ON true = 1 \nWHERE `tabOrganization`.name = %(organization)s AND `tabJob Type`.name = %(job_type)s',
        {},
    ),
    ('release._IN_FLIGHT_IN_ORG', ('organization',)): (
        'SELECT count(*) AS count_1 \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.organization = %(organization)s AND `tabBackground Job`.status IN (%(param_1)s, %(param_2)s)',
        {'param_1': 'Queued', 'param_2': 'Running'},
    ),
    ('release._LOCK_ORGANIZATION', ('organization',)): (
        'SELECT `tabOrganization`.name \nFROM `tabOrganization` \nWHERE `tabOrganization`.name = %(organization)s FOR UPDATE',
        {},
    ),
    ('release._WAITING_IN_ORG', ('organization',)): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.creation, `tabBackground Job`.modified, `tabBackground Job`.modified_by, `tabBackground Job`.owner, `tabBackground Job`.docstatus, `tabBackground Job`.idx, `tabBackground Job`.job_type, `tabBackground Job`.organization, `tabBackground Job`.depends_on, `tabBackground Job`.open_parents, `tabBackground Job`.status, `tabBackground Job`.priority, `tabBackground Job`.cancel_requested, `tabBackground Job`.progress, `tabBackground Job`.progress_message, `tabBackground Job`.output_reference, `tabBackground Job`.parameters, `tabBackground Job`.result, `tabBackground Job`.error_type, `tabBackground Job`.error_message, `tabBackground Job`.traceback, `tabBackground Job`.retry_count, `tabBackground Job`.max_retries, `tabBackground Job`.next_retry_at, `tabBackground Job`.run_at, `tabBackground Job`.snooze_count, `tabBackground Job`.timeout, `tabBackground Job`.attempt, `tabBackground Job`.queued_at, `tabBackground Job`.started_at, `tabBackground Job`.completed_at, `tabBackground Job`.heartbeat_at, `tabBackground Job`.worker, `tabBackground Job`.rq_job_id, `tabBackground Job`.parameters_hash, `tabBackground Job`.job_hash, `tabBackground Job`._user_tags, `tabBackground Job`._comments, `tabBackground Job`._assign, `tabBackground Job`._liked_by \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.organization = %(organization)s AND `tabBackground Job`.status = %(status_1)s AND `tabBackground Job`.run_at IS NULL ORDER BY `tabBackground Job`.creation, `tabBackground Job`.name \n LIMIT %(param_1)s',
        {'status_1': 'Pending', 'param_1': 100},
    ),
    ('submission._DEDUP_HOLDER', ('job_hash',)): (
        'SELECT `tabBackground Job`.name, `tabBackground Job`.status, `tabBackground Job`.creation \nFROM `tabBackground Job` \nWHERE `tabBackground Job`.job_hash = %(job_hash)s LOCK IN SHARE MODE',
        {},
    ),
    ('submission._INSERT_JOB', ('attempt', 'cancel_requested', 'creation', 'depends_on', 'job_hash', 'job_type', 'max_retries', 'modified', 'modified_by', 'name', 'next_retry_at', 'open_parents', 'organization', 'owner', 'parameters', 'parameters_hash', 'priority', 'progress', 'queued_at', 'retry_count', 'rq_job_id', 'status', 'timeout', 'worker')): (
        'INSERT INTO `tabBackground Job` (name, creation, modified, modified_by, owner, job_type, organization, depends_on, open_parents, status, priority, cancel_requested, progress, parameters, retry_count, max_retries, next_retry_at, timeout, attempt, queued_at, worker, rq_job_id, parameters_hash, job_hash) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(job_type)s, %(organization)s, %(depends_on)s, %(open_parents)s, %(status)s, %(priority)s, %(cancel_requested)s, %(progress)s, %(parameters)s, %(retry_count)s, %(max_retries)s, %(next_retry_at)s, %(timeout)s, %(attempt)s, %(queued_at)s, %(worker)s, %(rq_job_id)s, %(parameters_hash)s, %(job_hash)s)',
        {},
    ),
    ('submission._INSERT_JOB', ('attempt', 'cancel_requested', 'creation', 'depends_on', 'job_hash', 'job_type', 'max_retries', 'modified', 'modified_by', 'name', 'next_retry_at', 'open_parents', 'organization', 'owner', 'parameters', 'parameters_hash', 'priority', 'progress', 'retry_count', 'status', 'timeout')): (
        'INSERT INTO `tabBackground Job` (name, creation, modified, modified_by, owner, job_type, organization, depends_on, open_parents, status, priority, cancel_requested, progress, parameters, retry_count, max_retries, next_retry_at, timeout, attempt, parameters_hash, job_hash) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(job_type)s, %(organization)s, %(depends_on)s, %(open_parents)s, %(status)s, %(priority)s, %(cancel_requested)s, %(progress)s, %(parameters)s, %(retry_count)s, %(max_retries)s, %(next_retry_at)s, %(timeout)s, %(attempt)s, %(parameters_hash)s, %(job_hash)s)',
        {},
    ),
    ('submission._INSERT_JOB', ('attempt', 'cancel_requested', 'creation', 'depends_on', 'job_hash', 'job_type', 'max_retries', 'modified', 'modified_by', 'name', 'open_parents', 'organization', 'owner', 'parameters', 'parameters_hash', 'priority', 'progress', 'retry_count', 'run_at', 'status', 'timeout')): (
        'INSERT INTO `tabBackground Job` (name, creation, modified, modified_by, owner, job_type, organization, depends_on, open_parents, status, priority, cancel_requested, progress, parameters, retry_count, max_retries, run_at, timeout, attempt, parameters_hash, job_hash) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(job_type)s, %(organization)s, %(depends_on)s, %(open_parents)s, %(status)s, %(priority)s, %(cancel_requested)s, %(progress)s, %(parameters)s, %(retry_count)s, %(max_retries)s, %(run_at)s, %(timeout)s, %(attempt)s, %(parameters_hash)s, %(job_hash)s)',
        {},
    ),
    ('submission._INSERT_JOB', ('attempt', 'cancel_requested', 'creation', 'depends_on', 'job_hash', 'job_type', 'max_retries', 'modified', 'modified_by', 'name', 'open_parents', 'organization', 'owner', 'parameters', 'parameters_hash', 'priority', 'progress', 'retry_count', 'status', 'timeout')): (
        'INSERT INTO `tabBackground Job` (name, creation, modified, modified_by, owner, job_type, organization, depends_on, open_parents, status, priority, cancel_requested, progress, parameters, retry_count, max_retries, timeout, attempt, parameters_hash, job_hash) VALUES (%(name)s, %(creation)s, %(modified)s, %(modified_by)s, %(owner)s, %(job_type)s, %(organization)s, %(depends_on)s, %(open_parents)s, %(status)s, %(priority)s, %(cancel_requested)s, %(progress)s, %(parameters)s, %(retry_count)s, %(max_retries)s, %(timeout)s, %(attempt)s, %(parameters_hash)s, %(job_hash)s)',
        {},
    ),
    ('submission._JOB_TYPE_AND_ORGANIZATION', ('job_type', 'organization', 'user')): (
        'SELECT `tabJob Type`.is_enabled, `tabJob Type`.requires_role, `tabJob Type`.default_priority, `tabJob Type`.default_timeout, `tabJob Type`.max_retries, `tabJob Type`.deduplication_window, `tabJob Type`.max_concurrent_per_org, `tabJob Type`.queue, `tabJob Type`.rate_limit_count, `tabJob Type`.rate_limit_period, `tabJob Type`.rate_limit_per_org, `tabOrganization`.name AS organization_found, `tabOrganization`.status AS organization_status, `tabOrganization`.max_concurrent_jobs, EXISTS (SELECT `tabOrg Member`.organization \nFROM `tabOrg Member` INNER JOIN `tabPerson` ON `tabPerson`.name = `tabOrg Member`.person \nWHERE `tabPerson`.frappe_user = %(user)s AND `tabOrg Member`.status = %(status_1)s AND `tabOrg Member`.organization = `tabOrganization`.name) AS is_member \nFROM `tabJob Type` LEFT OUTER JOIN `tabOrganization` ON `tabOrganization`.name = %(organization)s \nWHERE `tabJob Type`.name = %(job_type)s',
        {'status_1': 'Active'},
    ),
}
