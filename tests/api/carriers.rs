use crate::helpers::*;
use dial_app::{
    error::AppError,
    model::{CarrierView, NumberRow, Page},
};

const PASSWORD: &str = "carrier-secret-42";

fn carrier_form<'a>(
    name: &'a str,
    address: &'a str,
    transport: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("kind", "telnyx"),
        ("sip_address", address),
        ("transport", transport),
        ("auth_username", "dial"),
        ("auth_password", PASSWORD),
        ("destination_country", "us"),
        ("inbound_addresses", "192.0.2.10, 198.51.100.0/24"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carriers_are_validated_and_their_password_is_encrypted_and_masked() {
    let app = spawn_with_admin().await;
    let bad = app
        .call::<String>(
            &app.client,
            "carriers/create",
            &[
                ("name", ""),
                ("kind", "acme"),
                ("sip_address", "sip:sip.telnyx.com"),
                ("transport", "carrier-pigeon"),
                ("inbound_addresses", "10.0.0.300"),
                ("destination_country", "XX"),
            ],
        )
        .await
        .unwrap_err();
    for field in [
        "name",
        "kind",
        "sip_address",
        "transport",
        "inbound_addresses",
        "destination_country",
    ] {
        assert!(bad.field(field).is_some(), "{field}: {bad:?}");
    }
    assert!(bad
        .field("sip_address")
        .unwrap()
        .contains("without \"sip:\""));

    let id: String = app
        .call(
            &app.client,
            "carriers/create",
            &carrier_form("Telnyx", "sip.telnyx.com", "tls"),
        )
        .await
        .unwrap();
    let duplicate = app
        .call::<String>(
            &app.client,
            "carriers/create",
            &carrier_form("Telnyx", "sip.telnyx.com", "tls"),
        )
        .await
        .unwrap_err();
    assert!(duplicate.field("name").unwrap().contains("already exists"));
    let list: Vec<CarrierView> = app.call(&app.client, "carriers/list", &[]).await.unwrap();
    assert_eq!(list.len(), 1);
    let c = &list[0];
    assert_eq!(
        (c.transport.as_str(), c.destination_country.as_str()),
        ("tls", "US")
    );
    assert_eq!(
        c.inbound_addresses,
        vec!["192.0.2.10".to_string(), "198.51.100.0/24".to_string()]
    );
    assert_eq!(c.auth_password.ends_with.as_deref(), Some("42"));
    let stored: String = sqlx::query_scalar("SELECT auth_password FROM carriers")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("v1.") && !stored.contains(PASSWORD));

    // Editing without a password keeps it.
    let mut edit = carrier_form("Telnyx US", "sip.telnyx.com", "tcp");
    edit.retain(|(k, _)| *k != "auth_password");
    edit.push(("id", &id));
    app.call::<()>(&app.client, "carriers/update", &edit)
        .await
        .unwrap();
    let list: Vec<CarrierView> = app.call(&app.client, "carriers/list", &[]).await.unwrap();
    assert_eq!(
        (list[0].name.as_str(), list[0].transport.as_str()),
        ("Telnyx US", "tcp")
    );
    assert_eq!(list[0].auth_password.ends_with.as_deref(), Some("42"));
    assert!(
        !app.all_bodies().contains(PASSWORD),
        "the password never comes back"
    );
    assert!(!captured_logs().contains(PASSWORD));

    let (owner, _) = app.owner_client().await;
    let refused = app
        .call::<String>(
            &owner,
            "carriers/create",
            &carrier_form("Mine", "sip.example.com", "udp"),
        )
        .await
        .unwrap_err();
    assert_eq!(refused, AppError::Forbidden);
    assert_eq!(
        app.call::<Vec<CarrierView>>(&owner, "carriers/list", &[])
            .await
            .unwrap_err(),
        AppError::Forbidden
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_bought_elsewhere_are_added_by_hand() {
    let app = spawn_with_admin().await;
    let id: String = app
        .call(
            &app.client,
            "carriers/create",
            &carrier_form("SignalWire", "dial.sip.signalwire.com", "tls"),
        )
        .await
        .unwrap();
    let (owner, owner_id) = app.owner_client().await;
    let added: String = app
        .call(
            &app.client,
            "carriers/add-number",
            &[
                ("carrier_id", &id),
                ("e164", "(646) 555-0100"),
                ("country", "US"),
                ("label", "NYC"),
                ("owner_id", &owner_id),
            ],
        )
        .await
        .unwrap();
    let number: NumberRow = app
        .call(&app.client, "numbers/get", &[("id", &added)])
        .await
        .unwrap();
    assert_eq!(
        (
            number.e164.as_str(),
            number.carrier.as_str(),
            number.country.as_str()
        ),
        ("+16465550100", "SignalWire", "US")
    );
    assert!(number.twilio_sid.is_none());
    let mine: Page<NumberRow> = app.call(&owner, "numbers/list", &[]).await.unwrap();
    assert_eq!(mine.total, 1, "the owner sees it");

    let again = app
        .call::<String>(
            &app.client,
            "carriers/add-number",
            &[("carrier_id", &id), ("e164", "+1 646 555 0100")],
        )
        .await
        .unwrap_err();
    assert!(
        again
            .field("e164")
            .unwrap()
            .contains("already in Dial as “NYC” (SignalWire)"),
        "{again:?}"
    );
    let national = app
        .call::<String>(
            &app.client,
            "carriers/add-number",
            &[("carrier_id", &id), ("e164", "646 555 0101")],
        )
        .await
        .unwrap_err();
    assert!(national.field("e164").unwrap().contains("country code"));
    let by_carrier: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[("carrier", &id)])
        .await
        .unwrap();
    assert_eq!(by_carrier.total, 1);
    let twilio_only: Page<NumberRow> = app
        .call(&app.client, "numbers/list", &[("carrier", "twilio")])
        .await
        .unwrap();
    assert_eq!(twilio_only.total, 0);

    // In use: the carrier cannot be deleted; once the number is released, it can.
    let in_use = app
        .call::<()>(&app.client, "carriers/delete", &[("id", &id)])
        .await
        .unwrap_err();
    assert!(in_use.to_string().contains("still uses"), "{in_use}");
    app.call::<()>(&app.client, "numbers/release", &[("id", &added)])
        .await
        .unwrap();
    app.call::<()>(&app.client, "carriers/delete", &[("id", &id)])
        .await
        .unwrap();
    let actions = app.audit_actions().await;
    for a in [
        "carrier.created",
        "number.added",
        "number.released",
        "carrier.deleted",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
}
