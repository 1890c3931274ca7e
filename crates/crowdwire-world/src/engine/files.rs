//! File sharing: the files each user offers its rooms, download requests and the owner's
//! answer, and routing a file's bytes to the accepted downloader only.

use serde_json::Value;

use super::{Frame, MediaCommand, Output, SessionId, WorldEngine};
use crate::protocol::{
    AcceptDownload, DenyDownload, DownloadRefusal, FileList, FileRequest, OneFile, ServerMessage, StartDownload,
    UserRef, WireId,
};

impl WorldEngine {
    fn may_interact(&mut self, slot: u32, session: SessionId, topic: &str) -> bool {
        if self.players[&slot].profile.role.flags.interact {
            return true;
        }
        self.error(session, topic, "your role may not use file boards in this world");
        false
    }

    /// The slot of `id` if it shares a room with `slot`.
    fn nearby(&self, slot: u32, id: &WireId) -> Option<u32> {
        self.slot_by_wire(id).filter(|t| self.co_members(slot).contains(t))
    }

    pub(super) fn add_files(&mut self, slot: u32, session: SessionId, files: Vec<Value>) {
        if !self.may_interact(slot, session, "ADD_USER_FILES") {
            return;
        }
        if files.is_empty() {
            return self.error(session, "ADD_USER_FILES", "no files given");
        }
        let have = self.players[&slot].files.len();
        if have + files.len() > self.config.max_files {
            return self.error(
                session,
                "ADD_USER_FILES",
                &format!("at most {} files may be offered at once", self.config.max_files),
            );
        }
        let uid = self.uid(slot);
        let mut accepted = Vec::with_capacity(files.len());
        for mut f in files {
            if !f.is_object() || f.to_string().len() > self.config.max_file_meta_bytes {
                return self.error(
                    session,
                    "ADD_USER_FILES",
                    "each file must be a metadata object of reasonable size",
                );
            }
            f["owner"] = Value::String(uid.clone());
            accepted.push(f);
        }
        self.players
            .get_mut(&slot)
            .expect("present")
            .files
            .extend(accepted.iter().cloned());
        let mut to = self.co_members(slot);
        to.insert(slot);
        self.fanout(
            to,
            Frame::of(&ServerMessage::AddUserFiles {
                d: FileList { files: accepted },
            }),
        );
    }

    /// `REMOVE_USER_FILE`: no longer offered.
    pub(super) fn remove_user_file(&mut self, slot: u32, session: SessionId, file: Value) {
        if !self.may_interact(slot, session, "REMOVE_USER_FILE") {
            return;
        }
        let p = self.players.get_mut(&slot).expect("present");
        let before = p.files.len();
        p.files.retain(|f| !same_file(f, &file));
        if p.files.len() == before {
            return self.error(session, "REMOVE_USER_FILE", "no such file");
        }
        let co = self.co_members(slot);
        self.fanout(co, Frame::of(&ServerMessage::RemoveUserFile { d: OneFile { file } }));
    }

    /// `REMOVE_ALL_USER_FILES`: nothing offered any more.
    pub(super) fn remove_all_user_files(&mut self, slot: u32) {
        let uid = self.uid(slot);
        self.players.get_mut(&slot).expect("present").files.clear();
        let co = self.co_members(slot);
        self.fanout(
            co,
            Frame::of(&ServerMessage::RemoveAllUserFiles {
                d: UserRef { user_id: uid },
            }),
        );
    }

    /// `GET_ROOM_USERS_FILES`: the files its co-members offer.
    pub(super) fn get_room_users_files(&mut self, slot: u32, session: SessionId) {
        if !self.may_interact(slot, session, "GET_ROOM_USERS_FILES") {
            return;
        }
        let files: Vec<Value> = self
            .co_members(slot)
            .into_iter()
            .flat_map(|s| self.players[&s].files.clone())
            .collect();
        self.send(session, &ServerMessage::GetRoomUsersFiles { d: FileList { files } });
    }

    /// `DOWNLOAD_REQUEST`: passed on to the file's owner, if it shares a room and offers it.
    pub(super) fn download_request(&mut self, slot: u32, session: SessionId, file: Value) {
        if !self.may_interact(slot, session, "DOWNLOAD_REQUEST") {
            return;
        }
        let Some(owner) = file.get("owner").and_then(WireId::from_value) else {
            return self.error(session, "DOWNLOAD_REQUEST", "the file has no owner");
        };
        let Some(target) = self.nearby(slot, &owner) else {
            return self.error(
                session,
                "DOWNLOAD_REQUEST",
                "the file's owner is not in a room with you",
            );
        };
        if !self.players[&target].files.iter().any(|f| same_file(f, &file)) {
            return self.error(session, "DOWNLOAD_REQUEST", "that user does not offer this file");
        }
        let msg = ServerMessage::DownloadRequest {
            d: FileRequest {
                file,
                user_id: self.uid(slot),
            },
        };
        self.send_to_slot(target, &msg);
    }

    /// `DENY_DOWNLOAD_REQUEST`: the owner's refusal, to the requester.
    pub(super) fn deny_download(&mut self, slot: u32, session: SessionId, d: DenyDownload) {
        let Some(target) = self.nearby(slot, &d.user_id) else {
            return self.error(session, "DENY_DOWNLOAD_REQUEST", "that user is not in a room with you");
        };
        let msg = ServerMessage::DenyDownloadRequest {
            d: DownloadRefusal {
                user_id: d.user_id.0,
                reason: d.reason,
            },
        };
        self.send_to_slot(target, &msg);
    }

    /// `ACCEPT_DOWNLOAD_REQUEST`: the owner's consent, remembered and passed on.
    pub(super) fn accept_download(&mut self, slot: u32, session: SessionId, d: AcceptDownload) {
        let Some(target) = self.nearby(slot, &d.user_id) else {
            return self.error(
                session,
                "ACCEPT_DOWNLOAD_REQUEST",
                "that user is not in a room with you",
            );
        };
        let grants = &mut self.players.get_mut(&slot).expect("present").accepted_downloads;
        if !grants.contains(&target) {
            grants.push(target);
        }
        self.send_to_slot(
            target,
            &ServerMessage::AcceptDownloadRequest {
                d: OneFile { file: d.file },
            },
        );
    }

    /// `START_DOWNLOAD`: an accepted download begins; the owner's file data goes to this user only.
    pub(super) fn start_download(&mut self, slot: u32, session: SessionId, d: StartDownload) {
        let Some(target) = self.nearby(slot, &d.user_id) else {
            return self.error(session, "START_DOWNLOAD", "that user is not in a room with you");
        };
        // The file's bytes go to this user only once its owner accepted.
        let grants = &mut self.players.get_mut(&target).expect("present").accepted_downloads;
        let Some(at) = grants.iter().position(|s| *s == slot) else {
            return self.error(
                session,
                "START_DOWNLOAD",
                "that user has not accepted your download request",
            );
        };
        grants.swap_remove(at);
        let shared: Vec<String> = {
            let theirs = self.rooms(target);
            self.rooms(slot).into_iter().filter(|r| theirs.contains(r)).collect()
        };
        self.out.push(Output::Media(MediaCommand::FileTarget {
            rooms: shared,
            owner: self.uid(target),
            downloader: self.uid(slot),
        }));
        self.send_to_slot(target, &ServerMessage::StartDownload);
    }
}

/// Files are identified by `id` and `name`, as the client does.
fn same_file(a: &Value, b: &Value) -> bool {
    a.get("id") == b.get("id") && a.get("name") == b.get("name")
}
