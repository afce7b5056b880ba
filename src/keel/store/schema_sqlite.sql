BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0011');
CREATE TABLE alert_rules (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	monitor VARCHAR(128) NOT NULL, 
	expression VARCHAR(256) NOT NULL, 
	for_windows INTEGER DEFAULT '1' NOT NULL, 
	channels TEXT DEFAULT '[]' NOT NULL, 
	state VARCHAR(16) DEFAULT 'ok' NOT NULL, 
	streak INTEGER DEFAULT '0' NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_alert_rules PRIMARY KEY (project, name)
);
CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	rule VARCHAR(128) NOT NULL, 
	monitor VARCHAR(128) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	value FLOAT, 
	message TEXT NOT NULL, 
	window_end BIGINT NOT NULL, 
	fired_at BIGINT NOT NULL, 
	resolved_at BIGINT, 
	acked_by VARCHAR(256), 
	acked_at BIGINT, 
	deliveries TEXT DEFAULT '[]' NOT NULL, 
	CONSTRAINT pk_alerts PRIMARY KEY (id)
);
CREATE TABLE api_tokens (
	id VARCHAR(32) NOT NULL, 
	user VARCHAR(128) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	secret_hash VARCHAR(256) NOT NULL, 
	scope VARCHAR(16) NOT NULL, 
	created_at BIGINT NOT NULL, 
	expires_at BIGINT, 
	revoked_at BIGINT, 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at BIGINT NOT NULL, 
	user VARCHAR(256) NOT NULL, 
	request_id VARCHAR(128), 
	project VARCHAR(128), 
	action VARCHAR(16) NOT NULL, 
	object_kind VARCHAR(128) NOT NULL, 
	object_id VARCHAR(512), 
	row_count INTEGER NOT NULL, 
	"before" TEXT, 
	"after" TEXT, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id)
);
CREATE TABLE dataset_versions (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	number INTEGER NOT NULL, 
	parent_id VARCHAR(32), 
	message TEXT DEFAULT '' NOT NULL, 
	author VARCHAR(256) NOT NULL, 
	created_at BIGINT NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	path TEXT NOT NULL, 
	source TEXT, 
	manifest_digest VARCHAR(64) NOT NULL, 
	file_count INTEGER NOT NULL, 
	size_bytes BIGINT NOT NULL, 
	row_count BIGINT, 
	schema TEXT, 
	stats TEXT, 
	CONSTRAINT pk_dataset_versions PRIMARY KEY (id), 
	CONSTRAINT fk_dataset_versions_project_datasets FOREIGN KEY(project, name) REFERENCES datasets (project, name) ON DELETE CASCADE, 
	CONSTRAINT uq_dataset_versions_project_name_number UNIQUE (project, name, number)
);
CREATE TABLE datasets (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	description TEXT, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_datasets PRIMARY KEY (project, name)
);
CREATE TABLE deployment_revisions (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	revision INTEGER NOT NULL, 
	action VARCHAR(16) NOT NULL, 
	spec TEXT NOT NULL, 
	created_by VARCHAR(256) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_deployment_revisions PRIMARY KEY (project, name, revision)
);
CREATE TABLE experiment_tags (
	experiment_id INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT, 
	CONSTRAINT pk_experiment_tags PRIMARY KEY (experiment_id, "key"), 
	CONSTRAINT fk_experiment_tags_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id) ON DELETE CASCADE
);
CREATE TABLE experiments (
	experiment_id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	artifact_location TEXT, 
	lifecycle_stage VARCHAR(32) DEFAULT 'active' NOT NULL, 
	creation_time BIGINT NOT NULL, 
	last_update_time BIGINT NOT NULL, 
	CONSTRAINT pk_experiments PRIMARY KEY (experiment_id), 
	CONSTRAINT uq_experiments_name UNIQUE (name)
);
INSERT INTO "experiments" VALUES(0,'default','Default','0','active',0,0);
CREATE TABLE feature_definitions (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	version INTEGER NOT NULL, 
	spec TEXT, 
	digest VARCHAR(64) NOT NULL, 
	author VARCHAR(256) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_feature_definitions PRIMARY KEY (id), 
	CONSTRAINT uq_feature_definitions_project_kind_name_version UNIQUE (project, kind, name, version)
);
CREATE TABLE feature_materializations (
	id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	"view" VARCHAR(128) NOT NULL, 
	start_us BIGINT, 
	end_us BIGINT NOT NULL, 
	watermark_us BIGINT, 
	rows BIGINT NOT NULL, 
	source_version VARCHAR(300), 
	store TEXT NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_feature_materializations PRIMARY KEY (id)
);
CREATE TABLE latest_metrics (
	run_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value FLOAT, 
	timestamp BIGINT NOT NULL, 
	step BIGINT NOT NULL, 
	CONSTRAINT pk_latest_metrics PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_latest_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (run_id) ON DELETE CASCADE
);
CREATE TABLE lineage_edges (
	id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	src_kind VARCHAR(32) NOT NULL, 
	src_id VARCHAR(256) NOT NULL, 
	relation VARCHAR(64) NOT NULL, 
	dst_kind VARCHAR(32) NOT NULL, 
	dst_id VARCHAR(256) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_lineage_edges PRIMARY KEY (id), 
	CONSTRAINT uq_lineage_edges_src_kind_src_id_relation_dst_kind_dst_id UNIQUE (src_kind, src_id, relation, dst_kind, dst_id)
);
CREATE TABLE logged_model_params (
	model_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_logged_model_params PRIMARY KEY (model_id, "key"), 
	CONSTRAINT fk_logged_model_params_model_id_logged_models FOREIGN KEY(model_id) REFERENCES logged_models (model_id) ON DELETE CASCADE
);
CREATE TABLE logged_model_tags (
	model_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT, 
	CONSTRAINT pk_logged_model_tags PRIMARY KEY (model_id, "key"), 
	CONSTRAINT fk_logged_model_tags_model_id_logged_models FOREIGN KEY(model_id) REFERENCES logged_models (model_id) ON DELETE CASCADE
);
CREATE TABLE logged_models (
	model_id VARCHAR(64) NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	source_run_id VARCHAR(64), 
	status VARCHAR(32) NOT NULL, 
	status_message TEXT, 
	artifact_location TEXT NOT NULL, 
	model_type VARCHAR(256), 
	creation_timestamp BIGINT NOT NULL, 
	last_updated_timestamp BIGINT NOT NULL, 
	lifecycle_stage VARCHAR(32) DEFAULT 'active' NOT NULL, 
	CONSTRAINT pk_logged_models PRIMARY KEY (model_id)
);
CREATE TABLE metric_batches (
	run_id VARCHAR(64) NOT NULL, 
	batch_id VARCHAR(64) NOT NULL, 
	points INTEGER NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_metric_batches PRIMARY KEY (run_id, batch_id)
);
CREATE TABLE metric_chunks (
	id INTEGER NOT NULL, 
	run_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	count INTEGER NOT NULL, 
	min_step BIGINT NOT NULL, 
	max_step BIGINT NOT NULL, 
	data BLOB NOT NULL, 
	CONSTRAINT pk_metric_chunks PRIMARY KEY (id)
);
CREATE TABLE model_version_tags (
	name VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT, 
	CONSTRAINT pk_model_version_tags PRIMARY KEY (name, version, "key"), 
	CONSTRAINT fk_model_version_tags_name_model_versions FOREIGN KEY(name, version) REFERENCES model_versions (name, version) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE model_versions (
	name VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	source TEXT, 
	run_id VARCHAR(64), 
	run_link TEXT, 
	model_id VARCHAR(64), 
	user_id VARCHAR(256), 
	status VARCHAR(32) NOT NULL, 
	status_message TEXT, 
	description TEXT, 
	current_stage VARCHAR(20) DEFAULT 'None' NOT NULL, 
	signature TEXT, 
	creation_timestamp BIGINT NOT NULL, 
	last_updated_timestamp BIGINT NOT NULL, 
	deleted_timestamp BIGINT, 
	CONSTRAINT pk_model_versions PRIMARY KEY (name, version), 
	CONSTRAINT fk_model_versions_name_registered_models FOREIGN KEY(name) REFERENCES registered_models (name) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE monitor_results (
	id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	monitor VARCHAR(128) NOT NULL, 
	window_start BIGINT NOT NULL, 
	window_end BIGINT NOT NULL, 
	metric VARCHAR(64) NOT NULL, 
	"column" VARCHAR(256), 
	value FLOAT, 
	threshold FLOAT, 
	flagged INTEGER DEFAULT '0' NOT NULL, 
	detail TEXT, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_monitor_results PRIMARY KEY (id)
);
CREATE TABLE monitors (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	deployment VARCHAR(256) NOT NULL, 
	reference VARCHAR(300) NOT NULL, 
	window_s INTEGER NOT NULL, 
	config TEXT DEFAULT '{}' NOT NULL, 
	created_at BIGINT NOT NULL, 
	last_window_end BIGINT, 
	CONSTRAINT pk_monitors PRIMARY KEY (project, name)
);
CREATE TABLE params (
	run_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_params PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_params_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (run_id) ON DELETE CASCADE
);
CREATE TABLE pipeline_runs (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	pipeline VARCHAR(256) NOT NULL, 
	ref TEXT, 
	status VARCHAR(16) NOT NULL, 
	params TEXT DEFAULT '{}' NOT NULL, 
	executor VARCHAR(32) NOT NULL, 
	tracking_run_id VARCHAR(64), 
	resumed_from VARCHAR(32), 
	"trigger" VARCHAR(256), 
	error TEXT, 
	started_at BIGINT NOT NULL, 
	ended_at BIGINT, 
	CONSTRAINT pk_pipeline_runs PRIMARY KEY (id)
);
CREATE TABLE project_members (
	project VARCHAR(128) NOT NULL, 
	user VARCHAR(128) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	added_at BIGINT NOT NULL, 
	CONSTRAINT pk_project_members PRIMARY KEY (project, user)
);
CREATE TABLE projects (
	name VARCHAR(128) NOT NULL, 
	description TEXT, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_projects PRIMARY KEY (name)
);
INSERT INTO "projects" VALUES('default','The default project',0);
CREATE TABLE promotion_requests (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(128) NOT NULL, 
	model VARCHAR(256) NOT NULL, 
	alias VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	requested_by VARCHAR(128) NOT NULL, 
	requested_at BIGINT NOT NULL, 
	decided_by VARCHAR(128), 
	decided_at BIGINT, 
	CONSTRAINT pk_promotion_requests PRIMARY KEY (id)
);
CREATE TABLE registered_model_aliases (
	name VARCHAR(256) NOT NULL, 
	alias VARCHAR(256) NOT NULL, 
	version INTEGER NOT NULL, 
	CONSTRAINT pk_registered_model_aliases PRIMARY KEY (name, alias), 
	CONSTRAINT fk_registered_model_aliases_name_registered_models FOREIGN KEY(name) REFERENCES registered_models (name) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE registered_model_tags (
	name VARCHAR(256) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT, 
	CONSTRAINT pk_registered_model_tags PRIMARY KEY (name, "key"), 
	CONSTRAINT fk_registered_model_tags_name_registered_models FOREIGN KEY(name) REFERENCES registered_models (name) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE registered_models (
	name VARCHAR(256) NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	description TEXT, 
	creation_timestamp BIGINT NOT NULL, 
	last_updated_timestamp BIGINT NOT NULL, 
	CONSTRAINT pk_registered_models PRIMARY KEY (name)
);
CREATE TABLE remotes (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	url TEXT NOT NULL, 
	options TEXT DEFAULT '{}' NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_remotes PRIMARY KEY (project, name)
);
CREATE TABLE run_inputs (
	run_id VARCHAR(64) NOT NULL, 
	name VARCHAR(500) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	source_type VARCHAR(64), 
	source TEXT, 
	schema TEXT, 
	profile TEXT, 
	context VARCHAR(250), 
	CONSTRAINT pk_run_inputs PRIMARY KEY (run_id, name, digest), 
	CONSTRAINT fk_run_inputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (run_id) ON DELETE CASCADE
);
CREATE TABLE runs (
	run_id VARCHAR(64) NOT NULL, 
	experiment_id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(250), 
	user_id VARCHAR(256), 
	status VARCHAR(20) NOT NULL, 
	start_time BIGINT, 
	end_time BIGINT, 
	deleted_time BIGINT, 
	artifact_uri TEXT, 
	lifecycle_stage VARCHAR(20) DEFAULT 'active' NOT NULL, 
	parent_run_id VARCHAR(64), 
	CONSTRAINT pk_runs PRIMARY KEY (run_id), 
	CONSTRAINT fk_runs_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (experiment_id)
);
CREATE TABLE scheduler_leases (
	project VARCHAR(128) NOT NULL, 
	holder VARCHAR(128) NOT NULL, 
	expires_at BIGINT NOT NULL, 
	CONSTRAINT pk_scheduler_leases PRIMARY KEY (project)
);
CREATE TABLE schedules (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	pipeline_ref TEXT NOT NULL, 
	cron VARCHAR(128) NOT NULL, 
	params TEXT DEFAULT '{}' NOT NULL, 
	enabled INTEGER DEFAULT '1' NOT NULL, 
	created_at BIGINT NOT NULL, 
	last_fire_at BIGINT, 
	CONSTRAINT pk_schedules PRIMARY KEY (project, name)
);
CREATE TABLE step_cache (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	cache_key VARCHAR(64) NOT NULL, 
	step VARCHAR(256) NOT NULL, 
	outputs TEXT NOT NULL, 
	pipeline_run_id VARCHAR(32) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_step_cache PRIMARY KEY (project, cache_key)
);
CREATE TABLE step_runs (
	pipeline_run_id VARCHAR(32) NOT NULL, 
	node VARCHAR(256) NOT NULL, 
	step VARCHAR(256) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	cache_key VARCHAR(64), 
	cache_hit INTEGER DEFAULT '0' NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	outputs TEXT, 
	error TEXT, 
	log_digest VARCHAR(64), 
	tracking_run_id VARCHAR(64), 
	started_at BIGINT, 
	ended_at BIGINT, 
	CONSTRAINT pk_step_runs PRIMARY KEY (pipeline_run_id, node), 
	CONSTRAINT fk_step_runs_pipeline_run_id_pipeline_runs FOREIGN KEY(pipeline_run_id) REFERENCES pipeline_runs (id) ON DELETE CASCADE
);
CREATE TABLE tags (
	run_id VARCHAR(64) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT, 
	CONSTRAINT pk_tags PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_tags_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (run_id) ON DELETE CASCADE
);
CREATE TABLE trigger_events (
	id INTEGER NOT NULL, 
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	event VARCHAR(256) NOT NULL, 
	payload TEXT DEFAULT '{}' NOT NULL, 
	created_at BIGINT NOT NULL, 
	claimed_by VARCHAR(128), 
	processed_at BIGINT, 
	CONSTRAINT pk_trigger_events PRIMARY KEY (id)
);
CREATE TABLE triggers (
	project VARCHAR(128) DEFAULT 'default' NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	event VARCHAR(256) NOT NULL, 
	pipeline_ref TEXT NOT NULL, 
	params TEXT DEFAULT '{}' NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_triggers PRIMARY KEY (project, name)
);
CREATE TABLE users (
	name VARCHAR(128) NOT NULL, 
	admin INTEGER DEFAULT '0' NOT NULL, 
	disabled INTEGER DEFAULT '0' NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_users PRIMARY KEY (name)
);
CREATE INDEX ix_runs_experiment_id_lifecycle_stage_start_time ON runs (experiment_id, lifecycle_stage, start_time);
CREATE INDEX ix_params_key_value ON params ("key", value);
CREATE INDEX ix_tags_key ON tags ("key");
CREATE INDEX ix_metric_chunks_run_id_key_id ON metric_chunks (run_id, "key", id);
CREATE INDEX ix_latest_metrics_key_value ON latest_metrics ("key", value);
CREATE INDEX ix_lineage_edges_dst_kind_dst_id ON lineage_edges (dst_kind, dst_id);
CREATE INDEX ix_logged_models_experiment_id_creation_timestamp ON logged_models (experiment_id, creation_timestamp);
CREATE INDEX ix_model_versions_run_id ON model_versions (run_id);
CREATE INDEX ix_model_versions_model_id ON model_versions (model_id);
CREATE INDEX ix_feature_materializations_project_view ON feature_materializations (project, "view");
CREATE INDEX ix_pipeline_runs_project_pipeline ON pipeline_runs (project, pipeline);
CREATE INDEX ix_trigger_events_project_processed_at ON trigger_events (project, processed_at);
CREATE INDEX ix_monitor_results_project_monitor_window_end ON monitor_results (project, monitor, window_end);
CREATE INDEX ix_alerts_project_state ON alerts (project, state);
CREATE INDEX ix_api_tokens_user ON api_tokens (user);
CREATE INDEX ix_promotion_requests_project_state ON promotion_requests (project, state);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_object ON audit_log (object_kind, object_id);
CREATE INDEX ix_audit_log_user_at ON audit_log (user, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated or deleted'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated or deleted'); END;
COMMIT;
