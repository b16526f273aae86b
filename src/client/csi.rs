//! Client state indication (XEP-0352): tell the server whether anyone is looking, so that
//! it can hold back what is not urgent (presence floods) while the app is in the
//! background.

use std::time::Instant;

use bytes::Bytes;

use super::{Client, CommandError, Phase};

/// What we want the server to believe, and what it was told on this session.
#[derive(Debug, Default)]
pub(super) struct Csi {
    /// The application said it is inactive.
    wanted_inactive: bool,
    /// The server was told so (it assumes active on a fresh session).
    told_inactive: bool,
}

impl Csi {
    /// A new stream (fresh or resumed): the server assumes active again.
    pub(super) fn fresh_session(&mut self) {
        self.told_inactive = false;
    }
}

impl Client {
    /// Tells the server whether the application is in the foreground (`active`) or not
    /// (XEP-0352). Sent only on a change, and again on every new connection (resumed or
    /// fresh: the state belongs to the stream, XEP-0352 §5.2) if inactive. While reconnecting
    /// it is sent once the new connection is up. [`CommandError::NotSupported`] when the
    /// server does not offer it.
    pub fn set_active(&mut self, now: Instant, active: bool) -> Result<(), CommandError> {
        self.require_online()?;
        if self.is_online() && !self.features.as_ref().is_some_and(|f| f.csi) {
            return Err(CommandError::NotSupported(
                "client state indication (XEP-0352)",
            ));
        }
        self.csi.wanted_inactive = !active;
        self.sync_csi(now);
        Ok(())
    }

    /// Whether the application said it is active (the default), see [`Self::set_active`].
    pub fn is_active(&self) -> bool {
        !self.csi.wanted_inactive
    }

    /// Sends our state if the server does not know it yet.
    pub(super) fn sync_csi(&mut self, now: Instant) {
        let offered = self.features.as_ref().is_some_and(|f| f.csi);
        if !matches!(self.phase, Phase::Online)
            || !offered
            || self.csi.wanted_inactive == self.csi.told_inactive
        {
            return;
        }
        let nonza: &'static [u8] = if self.csi.wanted_inactive {
            b"<inactive xmlns='urn:xmpp:csi:0'/>"
        } else {
            b"<active xmlns='urn:xmpp:csi:0'/>"
        };
        self.send(now, Bytes::from_static(nonza));
        self.csi.told_inactive = self.csi.wanted_inactive;
    }
}
