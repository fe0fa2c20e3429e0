// A minimal iPhone app around the bridge: serves the Core ML blocks in Documents/odsora-models (copy the
// folder ios-bridge/coreml_export.py writes there with Finder or the Files app) on port 9777.
import SwiftUI

@main
struct BridgeApp: App {
    @State private var status = "starting"
    private let server = BridgeServer(
        store: ModelStore(root: FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("odsora-models")),
        deviceName: UIDevice.current.name)

    var body: some Scene {
        WindowGroup {
            VStack(spacing: 12) {
                Text("odsora iOS bridge").font(.headline)
                Text("port 9777 · \(status)").font(.caption.monospaced())
                Text("recipe: executor: { name: ios, host: <this phone's IP>, port: 9777 }").font(.caption2)
            }
            .padding()
            .onAppear {
                UIApplication.shared.isIdleTimerDisabled = true  // a long run must not lock the screen
                do { try server.start(port: 9777) { state in status = state } } catch { status = "\(error)" }
            }
        }
    }
}
