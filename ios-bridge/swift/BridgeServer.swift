// The device end of the iOS bridge: a Network.framework TCP listener; each host connection is a
// session whose lanes are serial DispatchQueues (plan lane i → queue i mod lanes), so loading a block on
// one lane overlaps a prediction on another, as CI-DL does in the authors' app.
import CoreML
import Foundation
import Network

final class BridgeServer {
    let store: ModelStore
    let deviceName: String
    let lanes: Int
    private var listener: NWListener?
    private var sessions: [ObjectIdentifier: BridgeSession] = [:]

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
}

/// A block of a session: registered when its `load` arrives, its model set once loaded on its lane.
final class SessionBlock {
    let lane: Int
    var model: ManagedModel?
    var failure: Error?
    init(lane: Int) { self.lane = lane }
}

final class BridgeSession {
    private let connection: NWConnection
    private let server: BridgeServer
    private let io = DispatchQueue(label: "odsora.session.io")
    private let laneQueues: [DispatchQueue]
    private let lock = NSLock()
    private var blocks: [Int: SessionBlock] = [:]
    private var greeted = false
    private var onEnd: () -> Void = {}

    init(connection: NWConnection, server: BridgeServer) {
        self.connection = connection
        self.server = server
        laneQueues = (0..<server.lanes).map { DispatchQueue(label: "odsora.lane.\($0)", qos: .userInitiated) }
    }

    func start(onEnd: @escaping () -> Void) {
        self.onEnd = onEnd
        connection.start(queue: io)
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

    private func onPrelude(_ prelude: Data) {
        do {
            let (header, payload) = try FrameCodec.prelude(prelude)
            receive(header + payload) { [weak self] body in
                guard let self else { return }
                do {
                    let frame = try FrameCodec.decode(header: body.prefix(header), payload: body.dropFirst(header))
                    self.handle(frame)
                    self.receive(FrameCodec.preludeBytes) { [weak self] next in self?.onPrelude(next) }
                } catch { self.close() }
            }
        } catch { close() }
    }

    private func send(_ fields: [String: Any], _ tensors: [OutgoingTensor] = []) {
        guard let data = try? FrameCodec.encode(fields, tensors: tensors) else { return }
        connection.send(content: data, completion: .contentProcessed { _ in })
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
        if frame.type == "hello" {
            guard (h["version"] as? Int) == Int(FrameCodec.version) else {
                return fail("Cannot greet host '\(h["client"] ?? "?")': it speaks protocol version '\(h["version"] ?? "?")', this device speaks '1'")
            }
            greeted = true
            return send(["type": "hello", "id": id, "version": Int(FrameCodec.version), "device": server.deviceName,
                         "backend": "coreml", "lanes": laneQueues.count, "memory": DeviceMemory.report(residentBytes: residentBytes())])
        }
        guard greeted else { return fail("Cannot \(frame.type): say 'hello' first") }
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
            onEnd()
        }
    }
}
