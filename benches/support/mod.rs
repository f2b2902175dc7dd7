//! What the benchmarks that run the whole application share: Dial in sandbox mode (its
//! Twilio and LiveKit fakes on loopback, SQLite in a temporary directory), an admin, an
//! assistant, and numbers bought and assigned to it.

use dial::startup::Application;
use dial_app::{
    model::{Me, Role},
    server::{
        assignment, audit::Actor, config::Config, numbers, sandbox::Sandbox,
        sandbox::DEFAULT_TWILIO_ACCOUNT_SID, state::AppState,
    },
};

pub struct Bench {
    pub state: AppState,
    pub sandbox: Sandbox,
    pub me: Me,
    pub actor: Actor,
    /// Kept for the application's lifetime.
    _dir: tempfile::TempDir,
}

impl Bench {
    /// Starts Dial in sandbox mode with `configure` applied to its configuration, with an
    /// admin and an assistant (`bench`, agent `bench-agent`).
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path().to_path_buf());
        config.sandbox = true;
        configure(&mut config);
        let app = Application::build(config).await.expect("app");
        let state = app.state().clone();
        tokio::spawn(app.run());
        let sandbox = state.sandbox().cloned().expect("sandbox");

        let admin_id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) VALUES ($1, 'bench', 'x', 'admin', 0, 0)",
        )
        .bind(&admin_id)
        .execute(&state.db.pool)
        .await
        .expect("user");
        sqlx::query(
            "INSERT INTO assistants (id, owner_id, name, agent_name, metadata, room_prefix, description, created_at, updated_at) \
             VALUES ('bench', $1, 'Bench', 'bench-agent', '{}', 'call-', '', 0, 0)",
        )
        .bind(&admin_id)
        .execute(&state.db.pool)
        .await
        .expect("assistant");
        Bench {
            state,
            sandbox,
            me: Me {
                id: admin_id,
                username: "bench".into(),
                role: Role::Admin,
            },
            actor: Actor::system("bench"),
            _dir: dir,
        }
    }

    /// Gives the sandbox's Twilio account these numbers and imports them; their ids, in
    /// the order of `e164s`.
    pub async fn add_numbers(&self, e164s: &[&str]) -> Vec<String> {
        let mut ids = Vec::new();
        for e164 in e164s {
            let sid = self
                .sandbox
                .twilio
                .give_number(DEFAULT_TWILIO_ACCOUNT_SID, e164)
                .expect("number");
            numbers::import(&self.state, &self.actor, Some(&sid))
                .await
                .expect("import");
            let id: String = sqlx::query_scalar("SELECT id FROM phone_numbers WHERE e164 = $1")
                .bind(e164)
                .fetch_one(&self.state.db.pool)
                .await
                .expect("id");
            ids.push(id);
        }
        ids
    }

    /// Assigns the number `id` to the assistant; the provisioning run's id.
    pub async fn assign(&self, id: &str) -> String {
        let run = assignment::assign(&self.state, &self.me, &self.actor, id, "bench")
            .await
            .expect("assign");
        let view = assignment::get_run(&self.state, &self.me, &run)
            .await
            .expect("run");
        assert_eq!(view.status, dial_app::model::RunStatus::Done, "{view:?}");
        // The sandbox's Twilio trunk accepts 1 call a second, as Twilio's do unless raised;
        // the benchmarks measure Dial, not that limit.
        let trunk: Option<String> =
            sqlx::query_scalar("SELECT twilio_trunk_sid FROM phone_numbers WHERE id = $1")
                .bind(id)
                .fetch_one(&self.state.db.pool)
                .await
                .expect("trunk");
        if let Some(trunk) = trunk {
            self.sandbox
                .twilio
                .set_trunk_cps(&trunk, 1000)
                .expect("trunk cps");
        }
        run
    }
}
