// The bridge's cryptography on the device (ios-bridge/PROTOCOL.md, "Pairing" and "Sessions"), the same
// bytes as crypto.ts computes with WebCrypto: P-256 ECDH, HKDF-SHA256 and HMAC-SHA256 from CryptoKit;
// PBKDF2-HMAC-SHA256 from CommonCrypto (CryptoKit has no PBKDF2). No home-made primitives.
import CommonCrypto
import CryptoKit
import Foundation

enum BridgeCrypto {
    static let defaultIterations = 600_000
    static let nonceBytes = 32

    static func random(_ count: Int) -> Data {
        var bytes = [UInt8](repeating: 0, count: count)
        precondition(SecRandomCopyBytes(kSecRandomDefault, count, &bytes) == errSecSuccess)
        return Data(bytes)
    }

    /// A uniform 6-digit code (rejection sampling, no modulo bias).
    static func pairingCode() -> String {
        let limit = UInt32.max / 1_000_000 * 1_000_000
        while true {
            let v = random(4).withUnsafeBytes { $0.load(as: UInt32.self) }
            if v < limit { return String(format: "%06u", v % 1_000_000) }
        }
    }

    /// T(a, b, ...): each part preceded by its length, 4-byte big-endian (numbers: 4-byte big-endian).
    static func transcript(_ parts: Any...) -> Data {
        var out = Data()
        func u32(_ n: Int) -> Data { withUnsafeBytes(of: UInt32(n).bigEndian) { Data($0) } }
        for part in parts {
            let bytes: Data
            switch part {
            case let s as String: bytes = Data(s.utf8)
            case let n as Int: bytes = u32(n)
            case let d as Data: bytes = d
            default: preconditionFailure("transcript part \(part)")
            }
            out.append(u32(bytes.count))
            out.append(bytes)
        }
        return out
    }

    static func pbkdf2(code: String, salt: Data, iterations: Int) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        let status = salt.withUnsafeBytes { s in
            CCKeyDerivationPBKDF(CCPBKDFAlgorithm(kCCPBKDF2), code, code.utf8.count,
                                 s.bindMemory(to: UInt8.self).baseAddress, salt.count,
                                 CCPseudoRandomAlgorithm(kCCPRFHmacAlgSHA256), UInt32(iterations), &out, 32)
        }
        precondition(status == kCCSuccess)
        return Data(out)
    }

    static func hkdf(_ ikm: Data, salt: Data, info: Data) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: ikm), salt: salt, info: info, outputByteCount: 32)
    }

    static func mac(_ key: SymmetricKey, _ data: Data) -> Data { Data(HMAC<SHA256>.authenticationCode(for: data, using: key)) }

    static func verify(_ key: SymmetricKey, _ mac: Data, _ data: Data) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: data, using: key)
    }

    /// One pairing exchange, device side.
    struct Pairing {
        let hostId: String, deviceId: String, hostPublic: Data, salt: Data, iterations: Int
        let privateKey = P256.KeyAgreement.PrivateKey()
        var devicePublic: Data { privateKey.publicKey.x963Representation }  // 65 bytes, as WebCrypto's "raw"
        var info: Data {
            transcript("odsora-bridge v2 pairing", hostId, deviceId, hostPublic, devicePublic, salt, iterations)
        }

        func key(code: String) throws -> SymmetricKey {
            let peer = try P256.KeyAgreement.PublicKey(x963Representation: hostPublic)
            let secret = try privateKey.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Data($0) }
            return hkdf(secret, salt: pbkdf2(code: code, salt: salt, iterations: iterations), info: info)
        }

        func proofData(_ side: String) -> Data { transcript("pairing proof \(side)", info) }
    }

    /// One session greeting.
    struct Session {
        let hostId: String, deviceId: String, hostNonce: Data, deviceNonce: Data
        var info: Data { transcript("odsora-bridge v2 session", hostId, deviceId, hostNonce, deviceNonce) }
        var proofData: Data { transcript("session proof host", info) }

        func keys(_ key: SymmetricKey) -> (hostToDevice: SymmetricKey, deviceToHost: SymmetricKey) {
            let ikm = key.withUnsafeBytes { Data($0) }
            let salt = transcript(hostNonce, deviceNonce)
            return (hkdf(ikm, salt: salt, info: transcript("host->device", info)),
                    hkdf(ikm, salt: salt, info: transcript("device->host", info)))
        }
    }
}
