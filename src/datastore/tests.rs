//! Datastore operations on the `ncagent-bgp` module.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::LazyLock;

use yang5::context::Context;

use super::*;

static CTX: LazyLock<Context> =
    LazyLock::new(|| crate::schema::datastore_context().expect("datastore context"));

const NS: &str = "urn:ncagent:yang:ncagent-bgp";
const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

fn cfg(body: &str) -> String {
    format!(r#"<bgp xmlns="{NS}" xmlns:nc="{NC}">{body}</bgp>"#)
}

fn ds() -> Datastores<'static> {
    Datastores::new(&CTX)
}

#[test]
fn probe() {
    let mut d = ds();
    let r = d.edit_config(
        1,
        Datastore::Running,
        &cfg("<global><as>65000</as><router-id>1.1.1.1</router-id></global>"),
        EditOptions::default(),
    );
    println!("{r:?}");
    println!("{}", d.get_config(Datastore::Running).unwrap());
}
