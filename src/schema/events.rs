//! XPath filters of event subscriptions (RFC 5277 §3.6 with RFC 6241
//! §8.9): the expression is checked once, at `create-subscription`, and
//! evaluated on each event parsed as a libyang notification tree of the
//! served context (docs/notifications.md, "XPath filters").

use std::sync::Arc;

use yang5::data::{DataFormat, DataOperation, DataParserFlags, DataTree};

use super::read::{ReadError, translate_xpath};
use super::{Schema, ffi_shim};

/// Longest `select` accepted: an expression is evaluated on every event,
/// under the hub's lock, so its length bounds part of that cost (events
/// themselves are small, a few hundred bytes).
pub const MAX_EVENT_XPATH: usize = 4096;

/// A scratch event for the check at subscription time (RFC 5277 §4
/// `replayComplete`, a notification of nc-notifications).
const SCRATCH_EVENT: &str =
    "<replayComplete xmlns=\"urn:ietf:params:xml:ns:netmod:notification\"/>";

/// A checked XPath filter of a subscription, in libyang's form (module
/// names as prefixes).
pub struct EventXPath {
    schema: Arc<Schema>,
    expr: String,
}

impl std::fmt::Debug for EventXPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventXPath")
            .field("expr", &self.expr)
            .finish()
    }
}

fn parse_event<'s>(schema: &'s Schema, content: &str) -> Option<DataTree<'s>> {
    // yang5 panics on a NUL (CString); our events never hold one, but a
    // username from the transport is copied into them.
    if content.contains('\0') {
        return None;
    }
    DataTree::parse_op_string(
        &schema.ctx,
        content,
        DataFormat::XML,
        DataParserFlags::STRICT,
        DataOperation::NotificationYang,
    )
    .ok()
}

impl Schema {
    /// Checks `select` (prefixes as declared in scope of `<filter>`,
    /// innermost last) as an XPath filter of events: the same errors as a
    /// `<get>` select (RFC 6241 §8.9), plus one for an expression longer
    /// than [`MAX_EVENT_XPATH`].
    pub fn event_xpath(
        self: &Arc<Self>,
        select: &str,
        prefixes: &[(String, String)],
    ) -> Result<EventXPath, ReadError> {
        if select.contains('\0') {
            return Err(ReadError::BadXPath("NUL character".into()));
        }
        if select.len() > MAX_EVENT_XPATH {
            return Err(ReadError::BadXPath(format!(
                "longer than {MAX_EVENT_XPATH} bytes"
            )));
        }
        let expr = translate_xpath(self, select, prefixes)?;
        // libyang parses the expression when it evaluates it: evaluate it
        // once on a scratch event so that a syntax error is refused now,
        // whatever events come later.
        let scratch = parse_event(self, SCRATCH_EVENT)
            .ok_or_else(|| ReadError::Internal("scratch event does not parse".into()))?;
        let node = scratch
            .reference()
            .ok_or_else(|| ReadError::Internal("scratch event is empty".into()))?;
        ffi_shim::eval_xpath_bool(&self.ctx, &node, &expr).map_err(ReadError::BadXPath)?;
        Ok(EventXPath {
            schema: self.clone(),
            expr,
        })
    }
}

impl EventXPath {
    /// Whether the filter selects the event whose content element is
    /// `content`: the content is parsed as a notification of the served
    /// context and the expression evaluated with the notification's
    /// top-level element as the context node, its result converted to
    /// boolean (a node-set selects when it is not empty). An event that does
    /// not parse is not selected.
    pub fn selects(&self, content: &str) -> bool {
        let Some(tree) = parse_event(&self.schema, content) else {
            tracing::warn!(
                event = %content.get(..content.len().min(120)).unwrap_or(""),
                "event does not parse as a notification of the served modules; XPath filter skips it"
            );
            return false;
        };
        let Some(node) = tree.reference() else {
            return false;
        };
        ffi_shim::eval_xpath_bool(&self.schema.ctx, &node, &self.expr).unwrap_or(false)
    }

    /// The expression as libyang evaluates it (module names as prefixes).
    pub fn expr(&self) -> &str {
        &self.expr
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::schema::DeviceProfile;

    const NCN: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::load(DeviceProfile::lookup("CE8855", None).unwrap()).unwrap())
    }

    fn ncn() -> Vec<(String, String)> {
        vec![("ncn".into(), NCN.into())]
    }

    fn start(user: &str) -> String {
        format!(
            "<netconf-session-start xmlns=\"{NCN}\"><username>{user}</username><session-id>4</session-id><source-host>127.0.0.1</source-host></netconf-session-start>"
        )
    }

    #[test]
    fn selects_by_content_and_by_name() {
        let s = schema();
        let bob = s
            .event_xpath("/ncn:netconf-session-start[ncn:username='bob']", &ncn())
            .unwrap();
        assert!(bob.selects(&start("bob")));
        assert!(!bob.selects(&start("alice")));
        let end = format!(
            "<netconf-session-end xmlns=\"{NCN}\"><username>bob</username><session-id>4</session-id><termination-reason>closed</termination-reason></netconf-session-end>"
        );
        assert!(!bob.selects(&end));
        // Relative to the notification element, and a boolean expression.
        let rel = s.event_xpath("ncn:session-id > 3", &ncn()).unwrap();
        assert!(rel.selects(&start("x")));
        let count = s
            .event_xpath("count(/ncn:netconf-session-end) = 1", &ncn())
            .unwrap();
        assert!(count.selects(&end));
        assert!(!count.selects(&start("x")));
        // An event that does not parse is not selected.
        assert!(!bob.selects("<nothing xmlns=\"urn:x\"/>"));
    }

    #[test]
    fn refused_like_a_get_select() {
        let s = schema();
        assert!(matches!(
            s.event_xpath("/ncn:netconf-session-start[", &ncn()),
            Err(ReadError::BadXPath(_))
        ));
        assert!(matches!(
            s.event_xpath("/zz:netconf-session-start", &ncn()),
            Err(ReadError::UnknownPrefix(_))
        ));
        let long = format!("/ncn:netconf-session-start{}", "[1]".repeat(2000));
        assert!(matches!(
            s.event_xpath(&long, &ncn()),
            Err(ReadError::BadXPath(_))
        ));
    }

    /// Every kind of event the agent publishes parses as a notification of
    /// the served context (else an XPath subscriber would never get it),
    /// through the hub, and replay applies the filter too.
    #[tokio::test]
    async fn every_event_kind_reaches_an_xpath_subscriber() {
        use crate::bgp::{
            Direction, DownCause, PeerEvent, PeerSelector, RefreshOutcome, SessionState, SkipReason,
        };
        use crate::datastore::diff::Change;
        use crate::netconf::notify::{
            ChangedBy, ConfirmEvent, EventFilter, EventSelector, Notifier, NotifyLimits,
            SessionInfo, TerminationReason,
        };
        use crate::northbound::events::{config_edits, peer_state_xml, soft_reset_xml};
        use std::time::SystemTime;

        let s = schema();
        let all: Arc<dyn EventSelector> = Arc::new(s.event_xpath("true()", &[]).unwrap());
        let hub = Notifier::new(NotifyLimits::default());
        let mut rx = hub.attach(1);
        let before = SystemTime::now();
        hub.subscribe(1, Some(EventFilter::XPath(all)), None, None)
            .unwrap();
        let who = SessionInfo {
            session_id: 7,
            username: "bob".into(),
            source_host: Some("127.0.0.1".parse().unwrap()),
        };
        hub.session_start(&who);
        hub.session_end(&who, TerminationReason::Killed, Some(3));
        let edits = config_edits(&[
            Change::GlobalChanged {
                leaves: vec!["timers/hold-time"],
            },
            Change::RouteTargetAdded("65000:1".into()),
            Change::PeerRemoved("2001:db8::2".parse().unwrap()),
        ]);
        hub.config_change(&ChangedBy::User(who.clone()), "running", &edits);
        hub.config_change(&ChangedBy::Server, "running", &[]);
        hub.confirmed_commit(ConfirmEvent::Start, Some(&who), Some(600));
        let out = RefreshOutcome {
            refreshed: vec!["10.0.0.1".parse().unwrap()],
            skipped: vec![("10.0.0.2".parse().unwrap(), SkipReason::NotEstablished)],
        };
        hub.publish(soft_reset_xml(
            &PeerSelector::All,
            Direction::Import,
            &Ok(out),
        ));
        hub.publish(peer_state_xml(&PeerEvent {
            address: "10.0.0.1".parse().unwrap(),
            remote_as: 65001,
            previous: SessionState::Established,
            state: SessionState::Idle,
            cause: Some(DownCause::NotificationSent {
                code: 4,
                subcode: 0,
            }),
            time: SystemTime::now(),
        }));
        let mut got = Vec::new();
        while let Some(o) = rx.try_recv() {
            rx.written(&o);
            got.push(o.message);
        }
        assert_eq!(got.len(), 7, "{got:#?}");

        // Replay with a filter: only bob's killed session's end.
        let ends: Arc<dyn EventSelector> = Arc::new(
            s.event_xpath(
                "/ncn:netconf-session-end[ncn:termination-reason='killed']",
                &ncn(),
            )
            .unwrap(),
        );
        let mut rx2 = hub.attach(2);
        hub.subscribe(2, Some(EventFilter::XPath(ends)), Some(before), None)
            .unwrap();
        let mut got = Vec::new();
        while let Some(o) = rx2.try_recv() {
            got.push(o.message);
        }
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].contains("<killed-by>3</killed-by>"), "{}", got[0]);
        assert!(got[1].contains("<replayComplete"), "{}", got[1]);
    }
}
