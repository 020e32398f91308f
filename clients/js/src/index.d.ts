// Type declarations of @confab/client. The wire contract is docs/protocol.md
// (and docs/asyncapi.json for the WebSocket frames).

/** A conversation, or a message's destination: a user (direct) or a group. */
export type Target = { user: number } | { group: number };

export interface User {
  id: number;
  username: string;
  display_name: string;
  bio: string | null;
  avatar_url: string | null;
  created_at: number;
  deleted?: boolean;
}

/** A `message` frame (and, without `type`, a stored message of the history). */
export interface Message {
  type?: 'message';
  msg_id: string;
  from: number;
  to: Target;
  body: string;
  ts: number;
  seq: number;
}

export interface MessagePage {
  messages: Message[];
  first_seq: number;
  last_seq: number;
  reads: Array<{ user: number; seq: number }>;
}

export interface Conversation {
  with: Target;
  last_seq: number;
  read_seq: number;
  unread: number;
  last_message: Message | null;
  peer_read_seq?: number;
}

export interface FriendRequest {
  id: number;
  from: number;
  to: number;
  status: 'pending' | 'accepted' | 'declined';
  created_at: number;
  from_user: User;
  to_user: User;
}

export interface Friend {
  user: User;
  online: boolean;
}

export interface Member {
  user: User;
  role: 'owner' | 'admin' | 'member';
  online: boolean;
}

export interface GroupSummary {
  id: number;
  name: string;
  owner_id: number;
  member_count: number;
  role: 'owner' | 'admin' | 'member';
  created_at: number;
}

export interface GroupDetails {
  id: number;
  name: string;
  owner_id: number;
  created_at: number;
  members: Member[];
}

export interface Session {
  token: string;
  user: User;
}

/** Options of `searchUsers`. */
export interface SearchOptions {
  /** 1-50, default 20. */
  limit?: number;
  /** The next page: the last username of the previous one. */
  after?: string;
}

/** An inclusive length range. */
export interface CharRange {
  min: number;
  max: number;
}

/** `GET /api/limits`: the lengths the server enforces, in characters (code points). */
export interface Limits {
  /** Longest message `body`: the node's `WS_MAX_BODY_CHARS`. */
  message_body_chars: number;
  username_chars: CharRange;
  password_chars: CharRange;
  /** After trimming; at least 1. */
  display_name_chars: number;
  bio_chars: number;
  avatar_url_chars: number;
  /** After trimming; a leading `@` is not counted. */
  search_chars: number;
  /** After trimming; at least 1. */
  group_name_chars: number;
}

export interface Sent {
  id: string;
  msg_id: string;
  ts: number;
  to: Target;
  body: string;
}

export interface Failed {
  id: string;
  to: Target;
  body: string;
  code: string;
  message: string;
}

export interface PendingSend {
  id: string;
  to: Target;
  body: string;
}

export interface ReadFrame {
  type: 'read';
  conv: Target;
  user: number;
  seq: number;
}

export interface TypingFrame {
  type: 'typing';
  conv: Target;
  user: number;
}

export interface PresenceFrame {
  type: 'presence';
  user: number;
  online: boolean;
}

export type EventKind =
  | 'friend_request'
  | 'friend_request_answered'
  | 'friend_removed'
  | 'group_added'
  | 'member_added'
  | 'group_removed'
  | 'member_removed'
  | 'group_renamed'
  | 'role_changed'
  | 'group_disbanded';

/** An `event` frame: a social change, with the fields its `kind` lists in docs/protocol.md. */
export interface EventFrame {
  type: 'event';
  kind: EventKind;
  request?: FriendRequest;
  group?: GroupDetails;
  group_id?: number;
  user_id?: number;
  user_ids?: number[];
  name?: string;
  role?: string;
}

/** An `error` frame not tied to a waiting send (a refused `read` or `typing`, a malformed frame). */
export interface ErrorFrame {
  type: 'error';
  id: string | null;
  code: string;
  message: string;
}

export type ConnectionState =
  | { status: 'idle' }
  | { status: 'connecting'; attempt: number }
  | { status: 'open' }
  | { status: 'waiting'; reason: string; code?: number; retryAt: number; attempt: number }
  | { status: 'closed'; reason: string }
  | { status: 'fatal'; reason: string; code?: number };

export interface Events {
  message: Message;
  sent: Sent;
  failed: Failed;
  read: ReadFrame;
  typing: TypingFrame;
  presence: PresenceFrame;
  event: EventFrame;
  refused: ErrorFrame;
  state: ConnectionState;
  open: { reconnect: boolean };
  unauthorized: { code: string };
  handler_error: { frame: Message; error: unknown };
}

export interface ConfabOptions {
  /** The server, e.g. `https://chat.example.com`; default: the page's origin. */
  url?: string;
  token: string | (() => string | null);
  /** This installation's stable name: 1–64 of `A-Z a-z 0-9 . _ -` (default `default`). */
  device?: string;
  /** msg_ids the app already has. */
  seen?: Iterable<string>;
  /** Unconfirmed sends kept from an earlier run (from `pending()`). */
  outbox?: PendingSend[];
  seenLimit?: number;
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  user?: User | null;
  random?: () => number;
}

export type LoginOptions = Omit<ConfabOptions, 'url' | 'token' | 'user'> & { displayName?: string };

export class Confab {
  constructor(options: ConfabOptions);
  static login(url: string | undefined, username: string, password: string, options?: LoginOptions): Promise<Confab>;
  static register(url: string | undefined, username: string, password: string, options?: LoginOptions): Promise<Confab>;
  readonly api: Rest;
  readonly device: string;
  user: User | null;
  readonly state: ConnectionState;
  on<K extends keyof Events>(type: K, fn: (value: Events[K]) => unknown): () => void;
  on(type: EventKind, fn: (value: EventFrame) => unknown): () => void;
  once<K extends keyof Events>(type: K, fn: (value: Events[K]) => unknown): () => void;
  once(type: EventKind, fn: (value: EventFrame) => unknown): () => void;
  connect(): Promise<void>;
  close(): Promise<void>;
  reconnectNow(): void;
  send(to: Target, body: string, options?: { id?: string }): Promise<Sent>;
  pending(): PendingSend[];
  read(conv: Target, seq: number): boolean;
  typing(conv: Target): boolean;
  history(conv: Target, options?: { before?: number; after?: number; limit?: number }): Promise<MessagePage>;
  pages(conv: Target, options?: { before?: number; limit?: number }): AsyncGenerator<Message[], void, unknown>;
  /** Resolves once the handlers of every message received so far have settled. */
  idle(): Promise<void>;
  markSeen(ids: Iterable<string>): void;
  seenIds(): string[];
}

export class Rest {
  constructor(options?: {
    url?: string;
    token?: string | null | (() => string | null);
    onUnauthorized?: (err: ApiError) => void;
    fetch?: typeof fetch;
    retries?: number;
  });
  readonly url: string;
  request<T = unknown>(method: string, path: string, body?: unknown, options?: { auth?: boolean }): Promise<T>;
  register(username: string, password: string, displayName?: string): Promise<Session>;
  login(username: string, password: string): Promise<Session>;
  logout(): Promise<null>;
  logoutAll(): Promise<null>;
  wsTicket(): Promise<{ ticket: string; expires_in: number }>;
  me(): Promise<User>;
  updateMe(fields: { display_name?: string; bio?: string | null; avatar_url?: string | null }): Promise<User>;
  changePassword(oldPassword: string, newPassword: string): Promise<null>;
  deleteAccount(password: string): Promise<null>;
  user(id: number): Promise<User>;
  /** Username prefix or display-name word prefixes; `after`: the previous page's last username. */
  searchUsers(query: string, options?: SearchOptions | number): Promise<User[]>;
  /** `GET /api/limits`, no token needed. */
  limits(): Promise<Limits>;
  friends(): Promise<Friend[]>;
  friendRequests(): Promise<{ incoming: FriendRequest[]; outgoing: FriendRequest[] }>;
  sendFriendRequest(userId: number): Promise<FriendRequest>;
  acceptRequest(requestId: number): Promise<Friend>;
  declineRequest(requestId: number): Promise<null>;
  removeFriend(userId: number): Promise<null>;
  groups(): Promise<GroupSummary[]>;
  group(groupId: number): Promise<GroupDetails>;
  createGroup(name: string, memberIds?: number[]): Promise<GroupDetails>;
  renameGroup(groupId: number, name: string): Promise<GroupDetails>;
  disbandGroup(groupId: number): Promise<null>;
  addMembers(groupId: number, userIds: number[]): Promise<GroupDetails>;
  removeMember(groupId: number, userId: number): Promise<null>;
  setRole(groupId: number, userId: number, role: 'owner' | 'admin' | 'member'): Promise<GroupDetails>;
  conversations(limit?: number): Promise<Conversation[]>;
  history(conv: Target, options?: { before?: number; after?: number; limit?: number }): Promise<MessagePage>;
}

export class ApiError extends Error {
  constructor(status: number, code: string, message?: string, retryAfter?: number | null);
  readonly status: number;
  readonly code: string;
  readonly retryAfter: number | null;
}

export class SendError extends Error {
  constructor(id: string, code: string, message?: string);
  readonly id: string;
  readonly code: string;
}

export class ClosedError extends Error {
  constructor(message?: string);
  readonly code: 'closed';
}

export function backoffDelay(attempt: number, random?: () => number): number;
export function retryDelay(n: number, random?: () => number): number;

export class SeenIds {
  constructor(limit?: number);
  has(id: string): boolean;
  add(id: string): void;
  readonly size: number;
  toArray(): string[];
}

export class Outbox {
  readonly size: number;
  has(id: string): boolean;
  list(): PendingSend[];
  toJSON(): PendingSend[];
}

export function target(to: { user?: number; group?: number }): Target;
export function convKey(to: Target): string;
export function parseConvKey(key: string): Target;
export function conversationOf(m: { from: number; to: Target }, me: number): Target;
