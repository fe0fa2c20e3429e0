// One block's Core ML model with its own serial queue, as ManagedMLModel in the On-device Sora app:
// load is idempotent, predict loads on demand, unload drops the model. The queue makes a background
// load and a foreground "load then predict" of the same model safe (the second waits for the first).
import CoreML
import Foundation

final class ManagedModel {
    let url: URL
    let bytes: Int
    private let configuration: MLModelConfiguration
    private let queue: DispatchQueue
    private var model: MLModel?

    init(url: URL, bytes: Int, computeUnits: MLComputeUnits = .cpuAndGPU) {
        self.url = url
        self.bytes = bytes
        configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        queue = DispatchQueue(label: "odsora.model.\(url.lastPathComponent)")
    }

    private func loadLocked() throws -> MLModel {
        if let model { return model }
        let loaded = try MLModel(contentsOf: url, configuration: configuration)
        model = loaded
        return loaded
    }

    func load() throws { _ = try queue.sync { try loadLocked() } }

    func unload() { queue.sync { model = nil } }

    /// Run the model on named inputs; returns every output array by name.
    func predict(_ inputs: [String: MLMultiArray]) throws -> [String: MLMultiArray] {
        try queue.sync {
            let model = try loadLocked()
            let features = try MLDictionaryFeatureProvider(dictionary: inputs.mapValues { MLFeatureValue(multiArray: $0) })
            let result = try model.prediction(from: features)
            var outputs: [String: MLMultiArray] = [:]
            for name in result.featureNames {
                if let array = result.featureValue(for: name)?.multiArrayValue { outputs[name] = array }
            }
            return outputs
        }
    }
}
