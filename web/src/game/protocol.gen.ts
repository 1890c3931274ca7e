// Generated from crates/crowdwire-world/src/protocol/: do not edit by hand. Regenerate with
// `CROWDWIRE_BLESS=1 cargo test -p crowdwire-world --test protocol_bindings` (CI checks it is current).
// The protocol is described in docs/protocol.md.

/** A shared file's metadata: opaque to the server, which sets `owner`. */
export type FileMeta = { owner?: string | number; [key: string]: unknown };

export type Position = { 
/**
 * X, px.
 */
x: number, 
/**
 * Y, px.
 */
y: number, };

export type MaybePosition = { x?: number, y?: number, };

export type Velocity = { 
/**
 * X.
 */
x: number, 
/**
 * Y.
 */
y: number, };

export type WireId = string | number;

export type ToggleProducer = { 
/**
 * `audio` or `video`.
 */
kind: string, 
/**
 * Pause (true) or resume.
 */
pause: boolean, 
/**
 * Whose producer; absent for one's own. Another user's needs `world_mute`.
 */
peerId?: WireId, };

export type SpeakingChange = { 
/**
 * Speaking or not.
 */
value: boolean, 
/**
 * The room, as the original client sends it; ignored (voice activity goes to every
 * co-member).
 */
roomId?: WireId, };

export type DenyDownload = { 
/**
 * The downloader.
 */
user_id: WireId, 
/**
 * Why.
 */
reason?: string, };

export type AcceptDownload = { 
/**
 * The downloader.
 */
user_id: WireId, 
/**
 * The file's metadata.
 */
file: FileMeta, };

export type StartDownload = { 
/**
 * The file's owner.
 */
user_id: WireId, };

export type MediaRequest = { roomId: string | number, [key: string]: unknown };

export type ClientMessage = { "topic": "PING", 
/**
 * Last position (`{}` or absent: unknown).
 */
position?: MaybePosition, } | { "topic": "PLAYER_MOVEMENT", 
/**
 * New position.
 */
position: Position, 
/**
 * Velocity (absent: still).
 */
velocity?: Velocity, } | { "topic": "JOIN_PLAYER", 
/**
 * Spawn point (`{}` or absent: the default).
 */
position?: MaybePosition, } | { "topic": "SEND_MESSAGE", 
/**
 * Text.
 */
text: string, 
/**
 * `ALL` or `NEARBY`.
 */
to: "ALL" | "NEARBY", } | { "topic": "WIRE_PLAYER", 
/**
 * Claimed ids.
 */
users_id?: Array<WireId>, } | { "topic": "UNWIRE_PLAYER", 
/**
 * Claimed ids.
 */
users_id?: Array<WireId>, } | { "topic": "JOIN_CONFERENCE", 
/**
 * Conference id.
 */
conference_id: string, } | { "topic": "LEAVE_CONFERENCE", 
/**
 * Conference id.
 */
conference_id: string, } | { "topic": "REQUEST_TO_SPEAK", 
/**
 * Conference id.
 */
conference: string, } | { "topic": "PERMISSION_TO_SPEAK", 
/**
 * Conference id.
 */
conference: string, 
/**
 * Granted.
 */
permission: boolean, 
/**
 * The requester.
 */
user_requested: WireId, } | { "topic": "close-media" } | { "topic": "toggle-producer", 
/**
 * What to toggle.
 */
d: ToggleProducer, } | { "topic": "speaking_change", 
/**
 * Speaking or not.
 */
d: SpeakingChange, } | { "topic": "@connect-transport", 
/**
 * mediasoup-client's parameters.
 */
d: MediaRequest, } | { "topic": "@connect-transport-send-done", 
/**
 * mediasoup-client's parameters.
 */
d: MediaRequest, } | { "topic": "@get-recv-tracks", 
/**
 * mediasoup-client's parameters (`rtpCapabilities`).
 */
d: MediaRequest, } | { "topic": "@send-track", 
/**
 * mediasoup-client's parameters (`kind`, `rtpParameters`, `appData`).
 */
d: MediaRequest, } | { "topic": "@send-file", 
/**
 * mediasoup-client's parameters (`sctpStreamParameters`, `label`).
 */
d: MediaRequest, } | { "topic": "ADD_USER_FILES", 
/**
 * File metadata (opaque; the server sets `owner`).
 */
files: FileMeta[], } | { "topic": "REMOVE_USER_FILE", 
/**
 * The file.
 */
file: FileMeta, } | { "topic": "REMOVE_ALL_USER_FILES" } | { "topic": "GET_ROOM_USERS_FILES" } | { "topic": "DOWNLOAD_REQUEST", 
/**
 * The file (with `owner`).
 */
file: FileMeta, } | { "topic": "DENY_DOWNLOAD_REQUEST", 
/**
 * Whom and why.
 */
d: DenyDownload, } | { "topic": "ACCEPT_DOWNLOAD_REQUEST", 
/**
 * Whom and which file.
 */
d: AcceptDownload, } | { "topic": "START_DOWNLOAD", 
/**
 * The owner.
 */
d: StartDownload, } | { "topic": "KICK_PLAYER", 
/**
 * Whom.
 */
user_id: WireId, 
/**
 * Also ban from the world.
 */
ban?: boolean, };

export type RoleSummary = { 
/**
 * Role id.
 */
role_id: bigint, 
/**
 * Role name.
 */
name: string, };

export type PlayerData = { 
/**
 * Display name.
 */
username: string, 
/**
 * Avatar name.
 */
avatar: string, 
/**
 * Role.
 */
role: RoleSummary, };

export type JoinedUser = { 
/**
 * Display name.
 */
username: string, 
/**
 * Avatar.
 */
avatar: string, 
/**
 * Role.
 */
role: RoleSummary, 
/**
 * Id.
 */
user_id: string, };

export type Reason = { 
/**
 * Why.
 */
reason: string, };

export type SnapshotPosition = { 
/**
 * X, px.
 */
x?: number, 
/**
 * Y, px.
 */
y?: number, };

export type SpeakRequest = { 
/**
 * Who asks for the floor.
 */
user_requested: string, };

export type SpeakPermission = { 
/**
 * Granted.
 */
permission: boolean, };

export type FileList = { 
/**
 * File metadata as their owners offered it (with `owner`).
 */
files: FileMeta[], };

export type OneFile = { 
/**
 * The file's metadata.
 */
file: FileMeta, };

export type FileRequest = { 
/**
 * The file.
 */
file: FileMeta, 
/**
 * Who asks.
 */
user_id: string, };

export type UserRef = { 
/**
 * The user.
 */
user_id: string, };

export type DownloadRefusal = { 
/**
 * The file's owner, who refused.
 */
user_id: string, 
/**
 * Why, if they said.
 */
reason: string | null, };

export type ErrorDetail = { 
/**
 * The topic of the message refused, when it could be read.
 */
topic: string | null, 
/**
 * What was wrong.
 */
message: string, };

export type PresenceState = "online" | "reconnecting";

export type ServerMessage = { "topic": "PLAYERS_SNAPSHOT", 
/**
 * Positions by user id.
 */
snapshot: { [key in string]?: SnapshotPosition }, 
/**
 * Looks by user id.
 */
players_data: { [key in string]?: PlayerData }, } | { "topic": "KICKED", 
/**
 * Why.
 */
d: Reason, } | { "topic": "JOIN_PLAYER", 
/**
 * Who.
 */
user: JoinedUser, 
/**
 * Where.
 */
position: Position, } | { "topic": "LEAVE_PLAYER", 
/**
 * Who.
 */
user_id: string, } | { "topic": "PLAYER_MOVEMENT", 
/**
 * Who.
 */
user_id: string, 
/**
 * Velocity.
 */
velocity: Velocity, 
/**
 * Position.
 */
position: Position, } | { "topic": "SEND_MESSAGE", 
/**
 * Text.
 */
text: string, 
/**
 * `ALL` or `NEARBY`.
 */
to: "ALL" | "NEARBY", 
/**
 * The sender's user id.
 */
from: string, 
/**
 * The server's UTC time of day, `HH:MM`.
 */
date: string, } | { "topic": "WIRE_PLAYER", 
/**
 * Add (true) or replace (false).
 */
merge: boolean, 
/**
 * Ids.
 */
ids: Array<string>, } | { "topic": "UNWIRE_PLAYER", 
/**
 * Remove (true) or replace (false).
 */
merge: boolean, 
/**
 * Ids.
 */
ids: Array<string>, } | { "topic": "GROUPS_SNAPSHOT", 
/**
 * Group ids.
 */
groups: Array<string>, } | { "topic": "CLOSE_ROOM", 
/**
 * Group id.
 */
group: string, } | { "topic": "REQUEST_TO_SPEAK", 
/**
 * Who asks.
 */
d: SpeakRequest, } | { "topic": "PERMISSION_TO_SPEAK", 
/**
 * The answer.
 */
d: SpeakPermission, } | { "topic": "close-media", 
/**
 * Who.
 */
peerId: string, } | { "topic": "toggle-peer-producer", 
/**
 * Whose.
 */
peerId: string, 
/**
 * `audio` or `video`.
 */
kind: string, 
/**
 * Paused.
 */
pause: boolean, } | { "topic": "active_speaker", 
/**
 * Who.
 */
peerId: string, 
/**
 * Speaking.
 */
value: boolean, 
/**
 * The room, when the SFU detected the voice activity (absent when the client said so).
 */
roomId?: string, } | { "topic": "active-speaker", 
/**
 * Who.
 */
peerId: string, 
/**
 * Speaking.
 */
value: boolean, 
/**
 * The room, when the SFU detected the voice activity (absent when the client said so).
 */
roomId?: string, } | { "topic": "ADD_USER_FILES", 
/**
 * The files.
 */
d: FileList, } | { "topic": "REMOVE_USER_FILE", 
/**
 * The file.
 */
d: OneFile, } | { "topic": "REMOVE_ALL_USER_FILES", 
/**
 * Whose.
 */
d: UserRef, } | { "topic": "GET_ROOM_USERS_FILES", 
/**
 * The files.
 */
d: FileList, } | { "topic": "DOWNLOAD_REQUEST", 
/**
 * Which file, and who asks.
 */
d: FileRequest, } | { "topic": "DENY_DOWNLOAD_REQUEST", 
/**
 * Who refused, and why.
 */
d: DownloadRefusal, } | { "topic": "ACCEPT_DOWNLOAD_REQUEST", 
/**
 * The file.
 */
d: OneFile, } | { "topic": "START_DOWNLOAD" } | { "topic": "PLAYER_PRESENCE", 
/**
 * Who (the id its `JOIN_PLAYER` and `LEAVE_PLAYER` carry).
 */
user_id: string, 
/**
 * Its connection's state.
 */
state: PresenceState, } | { "topic": "MAP_UPDATED" } | { "topic": "error", 
/**
 * What and why.
 */
d: ErrorDetail, };

export type MediaPayload = { roomId: string, peerId?: string, error?: string, [key: string]: unknown };

export type MediaMessage = { "topic": "you-joined-as-speaker", 
/**
 * Router capabilities and transport parameters.
 */
d: MediaPayload, } | { "topic": "you-joined-as-peer", 
/**
 * Router capabilities and transport parameters.
 */
d: MediaPayload, } | { "topic": "you-are-now-a-speaker", 
/**
 * Send transport parameters.
 */
d: MediaPayload, } | { "topic": "new-peer-producer", 
/**
 * Consumer parameters.
 */
d: MediaPayload, 
/**
 * The receiving peer (as the original server sent it; media nodes route by it).
 */
uid?: string, } | { "topic": "new-peer-data-producer", 
/**
 * Data consumer parameters.
 */
d: MediaPayload, 
/**
 * The receiving peer (as the original server sent it; media nodes route by it).
 */
uid?: string, } | { "topic": "@connect-transport-send-done", 
/**
 * Room and peer, or `error`.
 */
d: MediaPayload, } | { "topic": "@connect-transport-recv-done", 
/**
 * Room and peer, or `error`.
 */
d: MediaPayload, } | { "topic": "@send-track-send-done", 
/**
 * `id`, or `error`.
 */
d: MediaPayload, } | { "topic": "@send-file-send-done", 
/**
 * `id`, or `error`.
 */
d: MediaPayload, } | { "topic": "@get-recv-tracks-done", 
/**
 * `consumerParametersArr`, or `error`.
 */
d: MediaPayload, };

/** Everything the server sends over the world's socket (besides the bare text `PONG`). */
export type Incoming = ServerMessage | MediaMessage;
