//! The XMPP the bench writes and reads over WebSocket (RFC 7395: one
//! complete element per text frame). Writing is a few fixed templates;
//! reading parses a frame with quick-xml into a small element tree, then
//! into the [`Stanza`] the bench acts on.

use std::borrow::Cow;

use anyhow::{Context, bail};
use base64::Engine as _;
use quick_xml::XmlVersion;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};

/// The framing namespace of RFC 7395 (`<open/>` and `<close/>`).
const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// `<open/>`: starts (or, after authentication, restarts) the stream.
pub fn open(domain: &str) -> String {
    format!(
        r#"<open xmlns="{NS_FRAMING}" to="{}" version="1.0"/>"#,
        escape(domain)
    )
}

/// `<close/>`: ends the stream.
pub fn close() -> String {
    format!(r#"<close xmlns="{NS_FRAMING}"/>"#)
}

/// SASL PLAIN (RFC 4616): no authorization identity, `user`, `password`.
pub fn auth_plain(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    format!(r#"<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">{token}</auth>"#)
}

/// Binds `resource` (RFC 6120 §7), as iq `id`.
pub fn bind(id: &str, resource: &str) -> String {
    format!(
        r#"<iq xmlns="jabber:client" type="set" id="{id}"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>{}</resource></bind></iq>"#,
        escape(resource)
    )
}

/// Establishes the session (RFC 3921), for servers that still require it.
pub fn session(id: &str) -> String {
    format!(
        r#"<iq xmlns="jabber:client" type="set" id="{id}"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>"#
    )
}

/// Initial presence: the session becomes available, so messages to the
/// bare JID reach it.
pub fn presence() -> &'static str {
    r#"<presence xmlns="jabber:client"/>"#
}

/// A chat message to `to` (a bare JID), with `id` and `body`.
pub fn chat(to: &str, id: &str, body: &str) -> String {
    format!(
        r#"<message xmlns="jabber:client" to="{}" type="chat" id="{}"><body>{}</body></message>"#,
        escape(to),
        escape(id),
        escape(body)
    )
}

/// What the server sent, as far as the bench cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stanza {
    /// The stream's `<open/>`.
    Open,
    /// The stream's `<close/>`.
    Close,
    Features(Features),
    /// SASL success.
    Success,
    /// SASL failure, with its condition.
    Failure(String),
    Iq {
        id: String,
        /// `result` or `error` (or `get`/`set` from the server).
        kind: String,
    },
    Message(Chat),
    /// `<stream:error>`, with its condition.
    StreamError(String),
    /// Anything else (presence, …), by element name.
    Other(String),
}

/// `<stream:features>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// SASL mechanisms offered.
    pub mechanisms: Vec<String>,
    /// Resource binding offered (after authentication).
    pub bind: bool,
    /// Session establishment offered and *not* marked `<optional/>`.
    pub session_required: bool,
}

/// A `<message>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chat {
    /// The sender's `id`, which the server passes on.
    pub id: Option<String>,
    /// The error condition of a `type="error"` message (a bounce).
    pub error: Option<String>,
    pub body: Option<String>,
}

impl Stanza {
    /// Parses one WebSocket text frame.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let root = Element::parse(text).with_context(|| format!("not an XMPP element: {text}"))?;
        Ok(match root.name.as_str() {
            "open" => Self::Open,
            "close" => Self::Close,
            "features" => Self::Features(Features {
                mechanisms: root
                    .child("mechanisms")
                    .map(|m| m.children.iter().map(|c| c.text.clone()).collect())
                    .unwrap_or_default(),
                bind: root.child("bind").is_some(),
                session_required: root
                    .child("session")
                    .is_some_and(|s| s.child("optional").is_none()),
            }),
            "success" => Self::Success,
            "failure" => Self::Failure(root.first_child_name()),
            "iq" => Self::Iq {
                id: root.attr("id").unwrap_or_default().to_owned(),
                kind: root.attr("type").unwrap_or_default().to_owned(),
            },
            "message" => Self::Message(Chat {
                id: root.attr("id").map(str::to_owned),
                error: (root.attr("type") == Some("error"))
                    .then(|| root.child("error").map(Element::first_child_name))
                    .map(Option::unwrap_or_default),
                body: root.child("body").map(|b| b.text.clone()),
            }),
            "error" => Self::StreamError(root.first_child_name()),
            other => Self::Other(other.to_owned()),
        })
    }
}

/// An element of a frame: its local name (no prefix), attributes, child
/// elements and text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    /// The frame's one root element.
    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut reader = quick_xml::Reader::from_str(text);
        let mut open: Vec<Element> = Vec::new();
        loop {
            let finished = match reader.read_event()? {
                Event::Start(start) => {
                    open.push(Self::start(&start)?);
                    None
                }
                Event::Empty(start) => Self::finish(&mut open, Self::start(&start)?),
                Event::End(_) => {
                    let element = open.pop().context("an end tag without a start")?;
                    Self::finish(&mut open, element)
                }
                Event::Text(t) => {
                    Self::append(&mut open, &t.xml10_content());
                    None
                }
                Event::CData(t) => {
                    Self::append(&mut open, &t.xml10_content());
                    None
                }
                Event::GeneralRef(r) => {
                    let resolved: Cow<'_, str> = match r.resolve_char_ref()? {
                        Some(c) => c.to_string().into(),
                        None => resolve_predefined_entity(&r)
                            .with_context(|| format!("unknown entity &{};", &*r))?
                            .into(),
                    };
                    Self::append(&mut open, &resolved);
                    None
                }
                Event::Eof => bail!("the frame ends inside its element"),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => None,
            };
            if let Some(root) = finished {
                return Ok(root);
            }
        }
    }

    fn start(start: &BytesStart<'_>) -> anyhow::Result<Self> {
        let mut attrs = Vec::new();
        for attr in start.attributes() {
            let attr = attr?;
            let value = attr.normalized_value(XmlVersion::Implicit1_0)?;
            attrs.push((
                attr.key.local_name().as_ref().to_owned(),
                value.into_owned(),
            ));
        }
        Ok(Self {
            name: start.local_name().as_ref().to_owned(),
            attrs,
            ..Self::default()
        })
    }

    /// Hangs a closed element on its parent; the root when there is none.
    fn finish(open: &mut [Element], element: Element) -> Option<Element> {
        match open.last_mut() {
            Some(parent) => {
                parent.children.push(element);
                None
            }
            None => Some(element),
        }
    }

    fn append(open: &mut [Element], text: &str) {
        if let Some(element) = open.last_mut() {
            element.text.push_str(text);
        }
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The name of the first child element: an error's condition.
    fn first_child_name(&self) -> String {
        self.children
            .first()
            .map_or_else(|| "unknown".to_owned(), |c| c.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_features_are_read() {
        let features = r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"#;
        assert_eq!(
            Stanza::parse(features).ok(),
            Some(Stanza::Features(Features {
                mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-1".into()],
                ..Features::default()
            }))
        );
        let after_auth = r#"<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/><session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional/></session></stream:features>"#;
        assert_eq!(
            Stanza::parse(after_auth).ok(),
            Some(Stanza::Features(Features {
                bind: true,
                ..Features::default()
            }))
        );
    }

    #[test]
    fn messages_and_their_bodies_are_read() {
        let text = r#"<message xmlns="jabber:client" from="b1@bench.local/r" to="b2@bench.local/r" type="chat" id="7"><body>1.7.123.x&amp;&#120;</body></message>"#;
        assert_eq!(
            Stanza::parse(text).ok(),
            Some(Stanza::Message(Chat {
                id: Some("7".into()),
                error: None,
                body: Some("1.7.123.x&x".into()),
            }))
        );
        let bounce = r#"<message type="error" id="7"><body>b</body><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></message>"#;
        assert!(matches!(
            Stanza::parse(bounce),
            Ok(Stanza::Message(Chat { error: Some(e), .. })) if e == "service-unavailable"
        ));
    }

    #[test]
    fn framing_sasl_and_iq_are_read() {
        let open = r#"<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" id="1" version="1.0" xml:lang="en" from="bench.local"/>"#;
        assert_eq!(Stanza::parse(open).ok(), Some(Stanza::Open));
        let success = r#"<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>"#;
        assert_eq!(Stanza::parse(success).ok(), Some(Stanza::Success));
        let failure =
            r#"<failure xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><not-authorized/></failure>"#;
        assert_eq!(
            Stanza::parse(failure).ok(),
            Some(Stanza::Failure("not-authorized".into()))
        );
        let iq = r#"<iq type="result" id="bind"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>b1@bench.local/r</jid></bind></iq>"#;
        assert_eq!(
            Stanza::parse(iq).ok(),
            Some(Stanza::Iq {
                id: "bind".into(),
                kind: "result".into()
            })
        );
        assert!(Stanza::parse("<message><body>").is_err());
    }

    #[test]
    fn written_stanzas_parse_back() {
        assert_eq!(Stanza::parse(&open("bench.local")).ok(), Some(Stanza::Open));
        assert_eq!(
            Stanza::parse(&chat("b2@bench.local", "r.3", "0.3.99.<x>")).ok(),
            Some(Stanza::Message(Chat {
                id: Some("r.3".into()),
                error: None,
                body: Some("0.3.99.<x>".into())
            }))
        );
        // "\0b1\0bench"
        assert!(auth_plain("b1", "bench").contains(">AGIxAGJlbmNo<"));
    }
}
