//! Call transfer (SIP REFER) on Elastic SIP Trunking: how Twilio answers a REFER that
//! arrives on a call through one of its trunks, by the trunk's `TransferMode`.
//!
//! twilio/twilio-oai `spec/yaml/twilio_trunking_v1.yaml` (`trunk_enum_transfer_setting`:
//! `disable-all`, `enable-all`, `sip-only`) and Twilio's "Call Transfer via SIP REFER"
//! (twilio.com/docs/sip-trunking/call-transfer): transfers are enabled per trunk, to any
//! SIP destination, and optionally to the PSTN; an accepted REFER is answered
//! `202 Accepted`.
//!
//! What Twilio answers a REFER the trunk does not allow is not documented. The fake
//! answers `403 Forbidden`: the status RFC 3515 §2.4.2 gives a REFER the recipient
//! declines, and the one users report from Twilio for a transfer refused at the trunk
//! (a Stack Exchange question, "SIP REFER through Twilio Elastic SIP trunk gets 403").

use super::FakeTwilio;

/// The status of a refused REFER (see the module's comment: undocumented).
pub const REFER_REFUSED: u16 = 403;

/// `host[:port][;params]` → `host`, lower case.
pub(super) fn host_of(address: &str) -> String {
    let address = address.trim().trim_start_matches("sip:");
    let host = address.split([';', ':']).next().unwrap_or(address);
    host.to_ascii_lowercase()
}

impl FakeTwilio {
    /// Twilio's answer to a REFER on a call through one of its trunks: the outbound
    /// call's termination host (`trunk_address`) names the trunk, or an inbound call's
    /// `called_number` names the number and so its trunk. `None`: not a call through a
    /// Twilio trunk of this fake (another carrier's). `Err(status)`: refused.
    pub fn answer_refer(
        &self,
        trunk_address: Option<&str>,
        called_number: &str,
        refer_to: &str,
    ) -> Option<Result<(), u16>> {
        let w = self.world.lock().ok()?;
        let by_address = trunk_address.map(host_of);
        let trunk = w.accounts.values().find_map(|a| {
            let trunk_sid = match &by_address {
                Some(host) => a
                    .trunks
                    .iter()
                    .find(|t| t.domain_name.as_deref() == Some(host.as_str()))
                    .map(|t| t.sid.clone()),
                None => a
                    .numbers
                    .iter()
                    .find(|n| n.available.phone_number == called_number)
                    .and_then(|n| n.trunk_sid.clone()),
            }?;
            a.trunks.iter().find(|t| t.sid == trunk_sid).cloned()
        })?;
        let allowed = match trunk.transfer_mode.as_str() {
            "enable-all" => true,
            // SIP destinations only: a tel: target is the PSTN.
            "sip-only" => refer_to.starts_with("sip:"),
            _ => false,
        };
        Some(if allowed { Ok(()) } else { Err(REFER_REFUSED) })
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn trunk_addresses_name_their_host() {
        assert_eq!(host_of("Dial-X.pstn.twilio.com"), "dial-x.pstn.twilio.com");
        assert_eq!(
            host_of("sip:dial-x.pstn.twilio.com:5061;transport=tls"),
            "dial-x.pstn.twilio.com"
        );
    }
}
