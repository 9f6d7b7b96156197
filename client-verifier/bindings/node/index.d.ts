// Type declarations of the client-verifier package (index.js).

/** Why a license, key, fingerprint or argument was refused: an `Error` whose `code` is the C
 * ABI's result name. */
export type ErrorCode =
  | 'Malformed' | 'BadSignature' | 'UnknownKey' | 'WrongIssuer' | 'WrongProduct'
  | 'NotYetValid' | 'DeviceMismatch' | 'NotBound' | 'Revoked' | 'ClockRollback'
  | 'StaleRevocationList' | 'Uncertified' | 'LeaseEnded' | 'BadKey' | 'BadFingerprint'
  | 'FingerprintUnavailable' | 'InvalidArgument' | 'NotALicense' | 'OfflineState'
  | 'SeatsTaken' | 'LeaseRefused' | 'ServerUnreachable' | 'Internal';

export interface ClientVerifierError extends Error {
  code: ErrorCode;
}

export type LicenseStatus = 'active' | 'frozen' | 'expired' | 'check_in_required' | 'lease_required';

/** A time: a Date, or seconds since 1970 (UTC). Absent: the system clock. */
export type Now = Date | number;

export interface VerifierOptions {
  /** PASERK `k4.public` keys, from `licd keys export`. */
  publicKeys?: string[];
  /** Required: a verifier that accepted any issuer would accept another ISV's licenses. */
  issuer: string;
  /** Required. */
  product: string;
  /** The ISV's root document: issuing keys it certifies are trusted. */
  root?: string;
  bindingOptional?: boolean;
  matchAll?: boolean;
  /** The newest revocation list sequence number accepted before. */
  minRevocationSeq?: number;
}

export class State {
  constructor(text?: string);
  encode(): string;
  readonly lastSeen: Date;
  readonly revocationSeq: number;
  readonly keyRevocationSeq: number;
  readonly rootVersion: number;
}

export class License {
  readonly status: LicenseStatus;
  readonly isActive: boolean;
  readonly expiresAt: Date;
  readonly freezeUntil: Date;
  readonly checkInBy: Date | null;
  readonly id: string;
  readonly customer: string;
  readonly issuer: string;
  readonly product: string;
  readonly sku: string;
  readonly order: string;
  readonly revision: number;
  readonly quantity: number;
  readonly edition: string | null;
  readonly keyId: string;
  /** How the ISV sold it, when the marketplace did not. */
  readonly origin: 'direct' | 'trial' | null;
  readonly isTrial: boolean;
  readonly entitlements: Record<string, unknown>;
  feature(name: string): boolean;
  limit(name: string): number | null;
  toJSON(): object;
}

export class Lease {
  readonly expiresAt: Date;
  readonly id: string;
  readonly license: string;
  readonly seat: number;
  readonly instance: string;
  readonly borrowed: boolean;
  readonly edition: string | null;
  feature(name: string): boolean;
  limit(name: string): number | null;
}

export class Verifier {
  constructor(options: VerifierOptions);
  /** `fingerprint` absent: this machine's. Throws a ClientVerifierError. */
  verify(token: string, options?: { fingerprint?: string; now?: Now; state?: State }): License;
  verifyLease(token: string, options?: { fingerprint?: string; now?: Now }): Lease;
  loadRevocations(token: string, options?: { state?: State }): number;
  loadKeyRevocations(statement: string, state: State): number;
  readonly revocationSeq: number;
}

export interface LeaseOptions {
  server: string;
  license: string;
  instance: string;
  fingerprint?: string;
  caPem?: string;
  allowPlainHttp?: boolean;
}

export class LeaseClient {
  static acquire(verifier: Verifier, options: LeaseOptions): Promise<LeaseClient>;
  readonly valid: boolean;
  readonly state: 'leased' | 'renewing' | 'lost' | 'refused' | 'closed';
  readonly token: string | null;
  readonly lease: Lease | null;
  close(): void;
}

/** This machine's fingerprint (`MAC|disk|board|CPU`). */
export function fingerprint(): string;
/** An activation request (`lor1.…`) for an air-gapped machine. */
export function offlineRequest(token: string, stateDir: string, options?: { fingerprint?: string }): string;
/** A deactivation receipt (`ldr1.…`) giving back this machine's seat. */
export function offlineReceipt(stateDir: string): string;
