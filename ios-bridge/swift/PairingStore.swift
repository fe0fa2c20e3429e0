// The hosts this device paired with, in the Keychain (one generic-password item per host id, readable
// only when the device is unlocked, never synced), and the device's own random id. Re-pairing replaces
// a host's key; forget() deletes it.
import CryptoKit
import Foundation
import Security

final class PairingStore {
    private let service = "odsora-bridge.hosts"

    /// This device's id, created once and kept in the Keychain too.
    lazy var deviceId: String = {
        if let id = read(account: "device-id", service: "odsora-bridge.self").flatMap({ String(data: $0, encoding: .utf8) }) {
            return id
        }
        let id = "device-" + BridgeCrypto.random(16).map { String(format: "%02x", $0) }.joined()
        write(Data(id.utf8), account: "device-id", service: "odsora-bridge.self")
        return id
    }()

    func key(host: String) -> SymmetricKey? { read(account: host, service: service).map { SymmetricKey(data: $0) } }

    func set(host: String, key: SymmetricKey) { write(key.withUnsafeBytes { Data($0) }, account: host, service: service) }

    func forget(host: String) {
        SecItemDelete([kSecClass: kSecClassGenericPassword, kSecAttrService: service, kSecAttrAccount: host] as CFDictionary)
    }

    /// Paired host ids (for the app's list).
    func hosts() -> [String] {
        var result: CFTypeRef?
        let query: [CFString: Any] = [kSecClass: kSecClassGenericPassword, kSecAttrService: service,
                                      kSecMatchLimit: kSecMatchLimitAll, kSecReturnAttributes: true]
        guard SecItemCopyMatching(query as CFDictionary, &result) == errSecSuccess,
              let items = result as? [[CFString: Any]] else { return [] }
        return items.compactMap { $0[kSecAttrAccount] as? String }.sorted()
    }

    private func read(account: String, service: String) -> Data? {
        var result: CFTypeRef?
        let query: [CFString: Any] = [kSecClass: kSecClassGenericPassword, kSecAttrService: service,
                                      kSecAttrAccount: account, kSecReturnData: true]
        return SecItemCopyMatching(query as CFDictionary, &result) == errSecSuccess ? result as? Data : nil
    }

    private func write(_ data: Data, account: String, service: String) {
        let query: [CFString: Any] = [kSecClass: kSecClassGenericPassword, kSecAttrService: service, kSecAttrAccount: account]
        SecItemDelete(query as CFDictionary)
        var item = query
        item[kSecValueData] = data
        item[kSecAttrAccessible] = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        SecItemAdd(item as CFDictionary, nil)
    }
}
