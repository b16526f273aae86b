//! XEP-0084: User Avatar over PEP (XEP-0163). The wire forms only: the data and metadata
//! publishes, the metadata notification, the data item request and its answer. The avatar
//! service (`avatar.rs`) decides what to fetch, verifies and caches.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::stanza::{Iq, IqType};
use super::vcard::{decode_base64, VCardError};
use crate::ns;
use crate::xml::{Builder, Element, ElementRef};

/// The feature that asks the server for metadata notifications (XEP-0163 §4).
pub const METADATA_NOTIFY: &str = "urn:xmpp:avatar:metadata+notify";

/// One image a contact offers for its avatar (a metadata `<info/>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AvatarInfo {
    /// The SHA-1 of the image, lowercase hex: the item id in the data node.
    pub id: String,
    /// The media type.
    pub mime: String,
    /// The image's size in bytes.
    pub bytes: Option<usize>,
    /// Width and height in pixels, when given.
    pub size: Option<(u32, u32)>,
    /// Where the image is, when it is not in the data node.
    pub url: Option<String>,
}

/// An image to publish as our avatar over PEP.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AvatarImage<'a> {
    /// The media type (`image/png` is the one every publisher should offer).
    pub mime: &'a str,
    /// The image.
    pub data: &'a [u8],
    /// Width and height in pixels, when known.
    pub size: Option<(u32, u32)>,
}

impl<'a> AvatarImage<'a> {
    /// An image of this type.
    pub fn new(mime: &'a str, data: &'a [u8]) -> Self {
        Self {
            mime,
            data,
            size: None,
        }
    }

    /// With its width and height.
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.size = Some((width, height));
        self
    }
}

/// The `<pubsub/>` publishing `data` in the data node under its hash.
pub(crate) fn publish_data(hash: &str, data: &[u8]) -> Builder {
    let item = Builder::new("item", ns::PUBSUB)
        .attr("id", hash)
        .child(Builder::new("data", ns::AVATAR_DATA).text(BASE64.encode(data)));
    publish(ns::AVATAR_DATA, item)
}

/// The `<pubsub/>` publishing the metadata of one image, or none (`None`: avatar disabled,
/// XEP-0084 §4.5).
pub(crate) fn publish_metadata(info: Option<&AvatarInfo>) -> Builder {
    let metadata = Builder::new("metadata", ns::AVATAR_METADATA);
    let item = match info {
        Some(info) => {
            let mut i = Builder::new("info", ns::AVATAR_METADATA)
                .attr("id", &info.id)
                .attr("type", &info.mime)
                .attr_opt("bytes", info.bytes.map(|b| b.to_string()));
            if let Some((w, h)) = info.size {
                i = i.attr("width", w.to_string()).attr("height", h.to_string());
            }
            Builder::new("item", ns::PUBSUB)
                .attr("id", &info.id)
                .child(metadata.child(i))
        }
        None => Builder::new("item", ns::PUBSUB).child(metadata),
    };
    publish(ns::AVATAR_METADATA, item)
}

/// A publish with the options XEP-0084 §7 has PEP nodes keep: readable by those who see
/// our presence (XEP-0163's default), one item.
fn publish(node: &str, item: Builder) -> Builder {
    let field = |var: &str, value: &str| {
        Builder::new("field", ns::DATA_FORMS)
            .attr("var", var.to_owned())
            .text_child("value", value.to_owned())
    };
    let options = Builder::new("x", ns::DATA_FORMS)
        .attr("type", "submit")
        .child(
            Builder::new("field", ns::DATA_FORMS)
                .attr("var", "FORM_TYPE")
                .attr("type", "hidden")
                .text_child("value", "http://jabber.org/protocol/pubsub#publish-options"),
        )
        .child(field("pubsub#access_model", "presence"));
    Builder::new("pubsub", ns::PUBSUB)
        .child(
            Builder::new("publish", ns::PUBSUB)
                .attr("node", node.to_owned())
                .child(item),
        )
        .child(Builder::new("publish-options", ns::PUBSUB).child(options))
}

/// The request for the data item `id`.
pub(crate) fn request_data(id: &str) -> Builder {
    Builder::new("pubsub", ns::PUBSUB).child(
        Builder::new("items", ns::PUBSUB)
            .attr("node", ns::AVATAR_DATA)
            .child(Builder::new("item", ns::PUBSUB).attr("id", id)),
    )
}

/// The images a metadata notification offers (empty: the avatar was disabled); `None` when
/// the message is not one.
pub(crate) fn notification(message: &Element) -> Option<Vec<AvatarInfo>> {
    let items = message
        .get_child("event", ns::PUBSUB_EVENT)?
        .get_child("items", ns::PUBSUB_EVENT)?;
    if items.attr("node").as_deref() != Some(ns::AVATAR_METADATA) {
        return None;
    }
    // The last item is the current one.
    let item = items
        .children()
        .filter(|i| i.is("item", ns::PUBSUB_EVENT))
        .last()?;
    let metadata = item.get_child("metadata", ns::AVATAR_METADATA)?;
    Some(infos(metadata))
}

/// At most this many images are read from one metadata item.
const MAX_INFOS: usize = 8;

fn infos(metadata: ElementRef<'_>) -> Vec<AvatarInfo> {
    metadata
        .children()
        .filter(|i| i.is("info", ns::AVATAR_METADATA))
        .filter_map(|i| {
            let id = i.attr("id")?.trim().to_ascii_lowercase();
            let sha1 = id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
            let number = |n: &str| i.attr(n).and_then(|v| v.trim().parse::<u32>().ok());
            sha1.then(|| AvatarInfo {
                id,
                mime: i.attr("type").map(|t| t.into_owned()).unwrap_or_default(),
                bytes: number("bytes").map(|b| b as usize),
                size: number("width").zip(number("height")),
                url: i.attr("url").map(|u| u.into_owned()),
            })
        })
        .take(MAX_INFOS)
        .collect()
}

/// The image to fetch: PNG first (XEP-0084 §4.2 makes it the one every publisher
/// offers), then any other in the data node.
pub(crate) fn preferred(infos: &[AvatarInfo]) -> Option<&AvatarInfo> {
    let in_node = || infos.iter().filter(|i| i.url.is_none());
    in_node()
        .find(|i| i.mime == "image/png")
        .or_else(|| in_node().next())
}

/// The image in a data item result, within `max` bytes.
pub(crate) fn data(iq: &Iq, id: &str, max: usize) -> Result<Vec<u8>, VCardError> {
    if iq.kind != IqType::Result {
        return Err(VCardError::Malformed("not a result"));
    }
    let item = iq
        .payload()
        .filter(|p| p.is("pubsub", ns::PUBSUB))
        .and_then(|p| p.get_child("items", ns::PUBSUB))
        .and_then(|items| {
            items
                .children()
                .find(|i| i.is("item", ns::PUBSUB) && i.attr("id").as_deref() == Some(id))
        })
        .ok_or(VCardError::NotFound)?;
    let data = item
        .get_child("data", ns::AVATAR_DATA)
        .ok_or(VCardError::Malformed("an avatar item without data"))?
        .text();
    decode_base64(&data, max)
}
