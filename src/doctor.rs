//! `dial doctor`: the setup checklist and a drift scan against the configured database and
//! providers, printed as a readable report (or JSON with `--json`), without serving
//! anything — how an operator debugs a deployment, before `dial serve` was ever started.
//! The process exits 0 when every item is green or amber and nothing drifted, non-zero
//! otherwise. It reads only (the database is created and migrated as `dial serve` would).

use anyhow::Context;
use dial_app::{
    model::{Checklist, DriftReport, Light, Repair},
    server::{assignment::drift, config::Config, db::Db, keys, setup_check, state::AppState},
};
use leptos::config::LeptosOptions;

/// What `dial doctor --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct Diagnosis {
    /// True when nothing is red and nothing drifted.
    pub ok: bool,
    pub checklist: Checklist,
    pub drift: DriftReport,
}

impl Diagnosis {
    fn new(checklist: Checklist, drift: DriftReport) -> Diagnosis {
        let ok = checklist.count(Light::Red) == 0
            && drift.findings.is_empty()
            && drift.errors.is_empty();
        Diagnosis {
            ok,
            checklist,
            drift,
        }
    }
}

/// Runs the checks; `Err` when Dial cannot even open its database or key.
pub async fn diagnose(config: Config) -> anyhow::Result<Diagnosis> {
    dial_app::server::files::create_private_dir(&config.data_dir).with_context(|| {
        format!(
            "could not create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let db = Db::connect(&config.effective_database_url())
        .await
        .context("could not open the database")?;
    db.migrate()
        .await
        .context("could not migrate the database")?;
    let (keyring, _) = keys::load_keyring(&config).context("could not load the encryption key")?;
    keys::check_key(&db, &keyring)
        .await
        .context("the encryption key does not open this database's secrets")?;
    let options = LeptosOptions::builder().output_name("dial").build();
    let state = AppState::new(db, keyring, config, options);
    let checklist = setup_check::checklist(&state, true)
        .await
        .map_err(|e| anyhow::anyhow!("the checklist failed: {e}"))?;
    let report = drift::inspect(&state)
        .await
        .map_err(|e| anyhow::anyhow!("the drift scan failed: {e}"))?;
    Ok(Diagnosis::new(checklist, report))
}

/// The report in words.
pub fn render(d: &Diagnosis) -> String {
    let mut out = String::from("Dial doctor\n");
    let mut group = String::new();
    for item in &d.checklist.items {
        if item.group != group {
            group = item.group.clone();
            out.push_str(&format!("\n{group}\n"));
        }
        let mark = match item.light {
            Light::Green => "  ok  ",
            Light::Amber => " check",
            Light::Red => "  FIX ",
        };
        out.push_str(&format!("{mark}  {}: {}\n", item.title, item.detail));
        if item.light != Light::Green {
            if let Some(href) = &item.fix_href {
                out.push_str(&format!(
                    "        → {} (in the dashboard: {href})\n",
                    item.fix_label.as_deref().unwrap_or("Fix")
                ));
            }
        }
    }
    out.push_str(&format!(
        "\nDrift ({} assigned number{} compared)\n",
        d.drift.numbers_checked,
        if d.drift.numbers_checked == 1 {
            ""
        } else {
            "s"
        }
    ));
    for e in &d.drift.errors {
        out.push_str(&format!("  FIX   {e}\n"));
    }
    if d.drift.findings.is_empty() && d.drift.errors.is_empty() {
        out.push_str("  ok    Dial, Twilio and LiveKit agree.\n");
    }
    for f in &d.drift.findings {
        out.push_str(&format!("  DRIFT {}\n", f.words));
        let repair = match &f.repair {
            Repair::Manual => None,
            r => Some(r.label()),
        };
        if let Some(label) = repair {
            out.push_str(&format!(
                "        → {label}: the Drift page (/dashboard/drift), or POST /api/v1/drift/findings/{}/repair\n",
                f.id
            ));
        }
    }
    let (red, amber) = (
        d.checklist.count(Light::Red),
        d.checklist.count(Light::Amber),
    );
    out.push_str(&format!(
        "\n{}: {red} to fix, {amber} to check, {} difference{}.\n",
        if d.ok { "All is well" } else { "Not well" },
        d.drift.findings.len(),
        if d.drift.findings.len() == 1 { "" } else { "s" }
    ));
    out
}
