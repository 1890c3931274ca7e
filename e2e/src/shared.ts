// Types shared by the test page (browser) and the Playwright driver (Node).

/** How the driver starts a page's client. */
export interface StartOptions {
  /** `ws://127.0.0.1:<port>/api/v1/ws/<world>?token=…` */
  wsUrl: string;
  /** Our user id as the server spells it on the wire (a string). */
  userId: string;
  /** Display name, for the page and the logs. */
  name: string;
  /** Where JOIN_PLAYER puts us. */
  position: { x: number; y: number };
  /**
   * When the server closes a room (CLOSE_ROOM, or a GROUPS_SNAPSHOT without it), keep the room's
   * transports open until the driver calls `closeRoom`, so the driver can read the receive
   * counters and prove that the *server* stopped forwarding. The real client closes at once.
   */
  keepTransportsAfterRoomClose: boolean;
}

/** One consumer's inbound-rtp figures, from the receive transport's getStats(). */
export interface ConsumerStats {
  consumerId: string;
  producerId: string;
  peerId: string;
  roomId: string;
  kind: 'audio' | 'video';
  closed: boolean;
  ssrc: number;
  /** Whether an inbound-rtp entry with our SSRC was found. */
  found: boolean;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  totalAudioEnergy: number;
  nackCount: number;
  pliCount: number;
  /** ms from `you-joined-as-speaker` to the first rendered frame (video only). */
  firstFrameAfterJoinMs: number | null;
  /** ms from the consumer's creation to the first rendered frame (video only). */
  firstFrameAfterConsumeMs: number | null;
}

/** One producer's outbound-rtp figures, from the send transport's getStats(). */
export interface ProducerStats {
  producerId: string;
  roomId: string;
  kind: string;
  packetsSent: number;
  framesEncoded: number;
  frameWidth: number;
  targetBitrate: number;
}

export interface RoomSummary {
  roomId: string;
  serverClosedAt: number | null;
  locallyClosed: boolean;
  recvState: string | null;
  sendState: string | null;
  availableOutgoingBitrate: number | null;
  consumers: number;
  dataConsumers: { id: string; peerId: string; readyState: string }[];
  dataProducers: { id: string; readyState: string }[];
}

export interface PageStats {
  at: number;
  rooms: RoomSummary[];
  consumers: ConsumerStats[];
  producers: ProducerStats[];
}

/** A file's metadata as the file-sharing protocol carries it (react-dropzone-like). */
export interface FileMeta {
  id: string;
  name: string;
  size: number;
  type: string;
  owner: string;
  [key: string]: unknown;
}

export interface DownloadResult {
  sha256: string;
  bytes: number;
  messages: number;
  /** START_DOWNLOAD sent → last byte received. */
  ms: number;
  /** DOWNLOAD_REQUEST sent → ACCEPT_DOWNLOAD_REQUEST received. */
  handshakeMs: number;
}

/** What the page knows, for the driver's polling and for failure reports. */
export interface PageState {
  name: string;
  userId: string;
  connected: boolean;
  snapshot: boolean;
  /** Errors that fail the test (server bugs named by field, mediasoup failures, server `error`s). */
  errors: string[];
  /** Rooms we were told we joined as speaker, with the time (page clock, ms). */
  joined: { roomId: string; at: number }[];
  rooms: RoomSummary[];
  /** Files others offered us (ADD_USER_FILES). */
  offeredToUs: FileMeta[];
  /** Events of the file protocol, in order, for the report. */
  fileLog: string[];
  /** The owner side's figures once it streamed a file. */
  sent: { bytes: number; ms: number; chunks: number } | null;
  closeRoomEvents: { roomId: string; at: number; via: string }[];
  now: number;
}
