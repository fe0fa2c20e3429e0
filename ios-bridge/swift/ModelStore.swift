// Resolves a block named by the host ("denoiser/spatial_00.onnx", relative to the bundle) to a compiled
// Core ML model inside the app's model folder: `denoiser/spatial_00.mlmodelc`, or the `.mlpackage` that
// ios-bridge/coreml_export.py wrote, compiled once into Caches. Nothing outside the folder is reachable.
import CoreML
import Foundation

struct ModelStore {
    let root: URL
    let cache: URL

    init(root: URL) {
        self.root = root.standardizedFileURL.resolvingSymlinksInPath()
        cache = FileManager.default.urls(for: .cachesDirectory, in: .userDomainMask)[0].appendingPathComponent("odsora-compiled")
    }

    private func inside(_ url: URL) -> Bool {
        url.standardizedFileURL.resolvingSymlinksInPath().path.hasPrefix(root.path + "/")
    }

    /// The compiled model for `file`; throws "outside" / "does not exist" like the loopback device.
    func compiledModel(for file: String) throws -> URL {
        let parts = file.split(separator: "/")
        guard !file.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            throw BridgeError("Cannot resolve block file '\(file)': it is outside the device's bundle folder")
        }
        let base = (file as NSString).deletingPathExtension
        let compiled = root.appendingPathComponent(base + ".mlmodelc")
        let package = root.appendingPathComponent(base + ".mlpackage")
        let fm = FileManager.default
        for candidate in [compiled, package] where fm.fileExists(atPath: candidate.path) && !inside(candidate) {
            throw BridgeError("Cannot resolve block file '\(file)': it is outside the device's bundle folder")
        }
        if fm.fileExists(atPath: compiled.path) { return compiled }
        guard fm.fileExists(atPath: package.path) else {
            throw BridgeError("Cannot resolve block file '\(file)': it does not exist in the device's bundle folder")
        }
        let target = cache.appendingPathComponent(base + ".mlmodelc")
        let modified = { (url: URL) in (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? .distantPast }
        if fm.fileExists(atPath: target.path) && modified(target) >= modified(package) { return target }
        try? fm.removeItem(at: target)
        let temporary = try MLModel.compileModel(at: package)  // minutes for a big block, once
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.moveItem(at: temporary, to: target)
        return target
    }
}
