// The device end of the iOS bridge, protocol version 2: a Network.framework TCP listener; each host
// connection either pairs (the code shown in the app) or authenticates (HMAC challenge–response under the
// paired key, then a MAC and a counter on every frame), one session at a time; a session's lanes are
// serial DispatchQueues (plan lane i → queue i mod lanes), so loading a block on one lane overlaps a
// prediction on another, as CI-DL does in the authors' app.
import CoreML
import CryptoKit
import Foundation
import Network

final class BridgeServer {
    let store: ModelStore
    let deviceName: String
    let lanes: Int
    let pairings = PairingStore()
    /// Largest header + payload accepted on a session (announced in `hello`).
    let maxFrameBytes = 512 << 20
    /// Called on the main queue with the code to show (nil: hide it).
    var showCode: (String?) -> Void = { _ in }
    private var listener: NWListener?
    private var sessions: [ObjectIdentifier: BridgeSession] = [:]
    let lock = NSLock()
    var busy = false  // one session at a time
    private var code: (value: String, shownAt: Date)?
    private var wrongCodes = 0
    private var pairingOpen = false

    init(store: ModelStore, deviceName: String, lanes: Int = 2) {
        self.store = store
        self.deviceName = deviceName
        self.lanes = lanes
    }

    /// Listen on `port` (all interfaces: the host reaches the phone over Wi-Fi or USB networking).
    func start(port: UInt16, onState: @escaping (String) -> Void) throws {
        let listener = try NWListener(using: .tcp, on: NWEndpoint.Port(rawValue: port)!)
        listener.stateUpdateHandler = { onState("\($0)") }
        listener.newConnectionHandler = { [weak self] connection in
            guard let self else { return }
            let session = BridgeSession(connection: connection, server: self)
            let key = ObjectIdentifier(session)
            self.sessions[key] = session
            session.start { DispatchQueue.main.async { self.sessions[key] = nil } }
        }
        listener.start(queue: .main)
        self.listener = listener
    }

    func stop() {
        listener?.cancel()
        sessions.values.forEach { $0.close() }
    }

    /// The person opened pairing in the app: a code is shown when a host asks; 3 wrong codes close it.
    func openPairing() { lock.withLock { pairingOpen = true; wrongCodes = 0; code = nil } }

    /// A host asks to pair: the code to check (a new one is shown unless one is still valid).
    func beginPairing() throws -> String {
        try lock.withLock {
            guard pairingOpen else { throw BridgeError("Cannot pair: pairing is closed on this device (open it in the app)") }
            if let c = code, Date().timeIntervalSince(c.shownAt) <= 120 { return c.value }
            let value = BridgeCrypto.pairingCode()
            code = (value, Date())
            DispatchQueue.main.async { self.showCode(value) }
            return value
        }
    }

    /// The code still valid now; throws once it expired (120 s after it was shown).
    func currentCode() throws -> String {
        try lock.withLock {
            guard pairingOpen, let c = code, Date().timeIntervalSince(c.shownAt) <= 120 else {
                code = nil
                throw BridgeError("Cannot pair: the code expired ('120000' ms after it was shown); ask again")
            }
            return c.value
        }
    }

    /// A wrong code: the tries left (0: pairing is closed and the code void).
    func pairingFailed() -> Int {
        lock.withLock {
            wrongCodes += 1
            if wrongCodes >= 3 { pairingOpen = false; code = nil; DispatchQueue.main.async { self.showCode(nil) } }
            return max(0, 3 - wrongCodes)
        }
    }

    /// A right code: it is used up (the next request shows a new one).
    func pairingSucceeded() {
        lock.withLock { code = nil }
        DispatchQueue.main.async { self.showCode(nil) }
    }
}

/// A block of a session: registered when its `load` arrives, its model set once loaded on its lane.
final class SessionBlock {
    let lane: Int
    var model: ManagedModel?
    var failure: Error?
    init(lane: Int) { self.lane = lane }
}

final class BridgeSession {
    private enum Step {
        case new
        case challenged(host: String, key: SymmetricKey, session: BridgeCrypto.Session)
        case pairing(client: String, exchange: BridgeCrypto.Pairing)
        case done
        case session
    }

    private let connection: NWConnection
    private let server: BridgeServer
    private let io = DispatchQueue(label: "odsora.session.io")
    private let laneQueues: [DispatchQueue]
    private let lock = NSLock()
    private let sendLock = NSLock()
    private var blocks: [Int: SessionBlock] = [:]
    private var step = Step.new
    private var holdsSession = false
    private var macKeys: (send: SymmetricKey, receive: SymmetricKey)?
    private var sent: UInt64 = 0
    private var received: UInt64 = 0
    private var onEnd: () -> Void = {}

    init(connection: NWConnection, server: BridgeServer) {
        self.connection = connection
        self.server = server
        laneQueues = (0..<server.lanes).map { DispatchQueue(label: "odsora.lane.\($0)", qos: .userInitiated) }
    }

    private var inSession: Bool { if case .session = step { return true } else { return false } }

    func start(onEnd: @escaping () -> Void) {
        self.onEnd = onEnd
        connection.start(queue: io)
        io.asyncAfter(deadline: .now() + 30) { [weak self] in  // no session within 30 s: close
            if let self, !self.inSession { self.close() }
        }
        receive(FrameCodec.preludeBytes) { [weak self] prelude in self?.onPrelude(prelude) }
    }

    /// Receive exactly `count` bytes (the connection ends on EOF or error).
    private func receive(_ count: Int, then handle: @escaping (Data) -> Void) {
        if count == 0 { return handle(Data()) }
        connection.receive(minimumIncompleteLength: count, maximumLength: count) { [weak self] data, _, _, error in
            guard let data, data.count == count, error == nil else { self?.close(); return }
            handle(data)
        }
    }

    /// A frame the device cannot accept: one error frame (id 0), one log line, then close.
    private func reject(_ error: Error) {
        NSLog("odsora bridge: %@", "\(error)")
        send(["type": "error", "id": 0, "message": "\(error)"])
        close()
    }

    private func onPrelude(_ prelude: Data) {
        do {
            // before the session only small handshake frames; the limit is checked before reading the rest
            let limit = inSession ? server.maxFrameBytes : 64 * 1024
            let p = try FrameCodec.prelude(prelude, maxHeader: min(FrameCodec.maxHeaderBytes, limit), maxFrame: limit)
            receive(p.header + p.payload + (p.mac ? FrameCodec.macBytes : 0)) { [weak self] rest in
                guard let self else { return }
                do {
                    let body = rest.prefix(p.header + p.payload)
                    let mac = p.mac ? rest.suffix(FrameCodec.macBytes) : nil
                    let authenticated = try self.open(prelude + body, mac: mac, counter: p.counter)
                    let frame = try FrameCodec.decode(header: body.prefix(p.header), payload: body.dropFirst(p.header))
                    if self.inSession {
                        guard authenticated else {
                            throw BridgeError("Cannot accept frame: it has no MAC, and this session is authenticated")
                        }
                        self.handle(frame)
                    } else {
                        try self.handshake(frame)
                    }
                    self.receive(FrameCodec.preludeBytes) { [weak self] next in self?.onPrelude(next) }
                } catch { self.reject(error) }
            }
        } catch { reject(error) }
    }

    /// Check a frame's MAC (constant time) and counter; true when it carried a valid MAC.
    private func open(_ signed: Data, mac: Data?, counter: UInt64) throws -> Bool {
        guard let mac else { return false }
        guard let keys = macKeys else {
            throw BridgeError("Cannot accept frame: it carries a MAC, but no session is authenticated yet")
        }
        guard BridgeCrypto.verify(keys.receive, mac, signed) else {
            throw BridgeError("Cannot accept frame: its MAC does not match (the frame was altered, or sent under another key)")
        }
        guard counter == received else {
            throw BridgeError("Cannot accept frame: its counter is '\(counter)', expected '\(received)' (a replayed, dropped or reordered frame)")
        }
        received += 1
        return true
    }

    /// Send one frame (MAC'd with the next counter once the session is authenticated).
    private func send(_ fields: [String: Any], _ tensors: [OutgoingTensor] = []) {
        sendLock.withLock {  // lanes answer concurrently: counters and bytes go out in one order
            let counter = macKeys == nil ? nil : sent
            guard var data = try? FrameCodec.encode(fields, tensors: tensors, counter: counter) else { return }
            if let keys = macKeys {
                sent += 1
                data.append(BridgeCrypto.mac(keys.send, data))
            }
            connection.send(content: data, completion: .contentProcessed { _ in })
        }
    }

    /// Refuse the connection during the handshake: one error frame, one log line, then close.
    private func refuse(_ id: Int, _ message: String) {
        NSLog("odsora bridge: %@", message)
        send(["type": "error", "id": id, "message": message])
        close()
    }

    private func handshake(_ frame: Frame) throws {
        let id = frame.id, h = frame.header
        let bytes = { (key: String) -> Data? in (h[key] as? String).flatMap { Data(base64Encoded: $0) } }
        let deviceId = server.pairings.deviceId
        switch (frame.type, step) {
        case ("hello", .new), ("pair", .new):
            guard (h["version"] as? Int) == Int(FrameCodec.version) else {
                return refuse(id, "Cannot greet host '\(h["client"] ?? "?")': it speaks protocol version '\(h["version"] ?? "?")', this device speaks '2'")
            }
            guard let host = h["hostId"] as? String else { return refuse(id, "Cannot \(frame.type): field 'hostId' is missing") }
            if frame.type == "hello" {
                guard let key = server.pairings.key(host: host) else {
                    return refuse(id, "Cannot open a session for host '\(host)' ('\(h["client"] ?? "?")'): it is not paired with device '\(server.deviceName)' (pair it: deno run -A ios-bridge/pair.ts --pair)")
                }
                guard let nonce = bytes("nonce"), nonce.count == BridgeCrypto.nonceBytes else {
                    return refuse(id, "Cannot hello: field 'nonce' is not 32 bytes")
                }
                let s = BridgeCrypto.Session(hostId: host, deviceId: deviceId, hostNonce: nonce,
                                             deviceNonce: BridgeCrypto.random(BridgeCrypto.nonceBytes))
                step = .challenged(host: host, key: key, session: s)
                send(["type": "challenge", "id": id, "deviceId": deviceId, "device": server.deviceName,
                      "nonce": s.deviceNonce.base64EncodedString()])
            } else {
                do { _ = try server.beginPairing() } catch { return refuse(id, "\(error)") }
                guard let pub = bytes("publicKey"), pub.count == 65 else {
                    return refuse(id, "Cannot pair: field 'publicKey' is not 65 bytes")
                }
                let p = BridgeCrypto.Pairing(hostId: host, deviceId: deviceId, hostPublic: pub,
                                             salt: BridgeCrypto.random(32), iterations: BridgeCrypto.defaultIterations)
                step = .pairing(client: h["client"] as? String ?? "?", exchange: p)
                send(["type": "pair-challenge", "id": id, "deviceId": deviceId, "device": server.deviceName,
                      "publicKey": p.devicePublic.base64EncodedString(), "salt": p.salt.base64EncodedString(),
                      "iterations": p.iterations])
            }
        case ("auth", .challenged(let host, let key, let s)):
            guard let proof = bytes("proof"), BridgeCrypto.verify(key, proof, s.proofData) else {
                return refuse(id, "Cannot authenticate host '\(host)': its proof does not match the key paired with it (pair again)")
            }
            let free = server.lock.withLock { () -> Bool in
                if server.busy { return false }
                server.busy = true
                return true
            }
            guard free else {
                return refuse(id, "Cannot open a session for host '\(host)': device '\(server.deviceName)' is serving another session (one at a time)")
            }
            holdsSession = true
            let k = s.keys(key)
            let memory = DeviceMemory.report(residentBytes: residentBytes())
            sendLock.withLock { macKeys = (send: k.deviceToHost, receive: k.hostToDevice) }
            step = .session
            send(["type": "hello", "id": id, "version": Int(FrameCodec.version), "device": server.deviceName,
                  "deviceId": deviceId, "backend": "coreml", "lanes": laneQueues.count, "memory": memory,
                  "maxFrameBytes": server.maxFrameBytes])
        case ("pair-confirm", .pairing(let client, let p)):
            let code: String
            do { code = try server.currentCode() } catch { return refuse(id, "\(error)") }
            let key = try p.key(code: code)
            guard let proof = bytes("proof"), BridgeCrypto.verify(key, proof, p.proofData("host")) else {
                let left = server.pairingFailed()
                return refuse(id, "Cannot pair host '\(p.hostId)': the code does not match (" +
                    (left > 0 ? "'\(left)' tries left)" : "pairing is now closed after '3' wrong codes)"))
            }
            server.pairingSucceeded()
            server.pairings.set(host: p.hostId, key: key)  // re-pairing replaces the key
            NSLog("odsora bridge: paired host '%@' ('%@')", p.hostId, client)
            step = .done
            send(["type": "paired", "id": id, "proof": BridgeCrypto.mac(key, p.proofData("device")).base64EncodedString()])
        default:
            refuse(id, "Cannot \(frame.type): this connection is not authenticated")
        }
    }

    private func residentBytes() -> Int { lock.withLock { blocks.values.reduce(0) { $0 + ($1.model?.bytes ?? 0) } } }

    /// Run `work` on lane `lane`'s serial queue and answer request `id` with its result or its error.
    private func onLane(_ lane: Int, id: Int, _ work: @escaping () throws -> ([String: Any], [OutgoingTensor])) {
        laneQueues[lane % laneQueues.count].async { [weak self] in
            let started = Date()
            do {
                let (fields, tensors) = try work()
                let elapsed = Date().timeIntervalSince(started) * 1000
                let result: [String: Any] = ["type": "result", "id": id, "elapsedMs": elapsed]
                self?.send(result.merging(fields) { $1 }, tensors)
            } catch {
                self?.send(["type": "error", "id": id, "message": "\(error)"])
            }
        }
    }

    private func handle(_ frame: Frame) {
        let id = frame.id, h = frame.header
        let fail = { (message: String) in self.send(["type": "error", "id": id, "message": message]) }
        switch frame.type {
        case "memory":
            send(["type": "result", "id": id, "memory": DeviceMemory.report(residentBytes: residentBytes())])
        case "load":
            guard let block = h["block"] as? Int, let file = h["file"] as? String, let lane = h["lane"] as? Int,
                  let bytes = h["bytes"] as? Int, lane >= 0 else { return fail("Cannot decode request 'load' (id '\(id)')") }
            guard lock.withLock({ blocks[block] }) == nil else { return fail("Cannot load block '\(block)': the id is in use") }
            let entry = SessionBlock(lane: lane % laneQueues.count)
            lock.withLock { blocks[block] = entry }  // a `run` right behind this `load` finds it and queues after it
            onLane(entry.lane, id: id) { [unowned self] in
                do {
                    let model = ManagedModel(url: try server.store.compiledModel(for: file), bytes: bytes)
                    try model.load()
                    lock.withLock { entry.model = model }
                } catch {
                    entry.failure = error
                    throw error
                }
                return ([:], [])
            }
        case "run", "unload":
            guard let block = h["block"] as? Int, let entry = lock.withLock({ blocks[block] }) else {
                return fail("Cannot \(frame.type) block '\(h["block"] ?? "?")': it was never loaded on this connection")
            }
            if frame.type == "unload" { lock.withLock { blocks[block] = nil } }  // later requests no longer see it
            onLane(entry.lane, id: id) {
                if frame.type == "unload" {
                    entry.model?.unload()
                    entry.model = nil
                    return ([:], [])
                }
                guard let model = entry.model else {
                    throw BridgeError("Cannot run block '\(block)': its load failed (\(entry.failure.map { "\($0)" } ?? "unknown"))")
                }
                var inputs: [String: MLMultiArray] = [:]
                for spec in frame.tensors { inputs[spec.name] = try TensorCodec.multiArray(spec, in: frame.payload) }
                let outputs = try model.predict(inputs)
                return ([:], try outputs.keys.sorted().map { try TensorCodec.tensor($0, outputs[$0]!) })
            }
        default:
            fail("Cannot decode request '\(frame.type)' (id '\(id)'): unknown type")
        }
    }

    /// Close the connection; after every lane's queued work, release the session's models.
    func close() {
        connection.cancel()
        let group = DispatchGroup()
        for queue in laneQueues { queue.async(group: group) {} }
        group.notify(queue: io) { [weak self] in
            guard let self else { return }
            lock.withLock { blocks.values.forEach { $0.model?.unload() }; blocks.removeAll() }
            if holdsSession { server.lock.withLock { server.busy = false }; holdsSession = false }
            onEnd()
        }
    }
}
