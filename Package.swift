// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Bora",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Bora", targets: ["Bora"]),
        .executable(name: "bora", targets: ["bora"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The server only (BoraServer); the Bora library depends on none of these.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // The innermost SIMD loops only (block dot products over rows). Each AVX2 function carries
        // its own `target` attribute and is chosen at run time, so no unsafe build flags are needed
        // and Bora stays usable as a package dependency.
        .target(name: "CBoraKernels"),
        .target(name: "Bora", dependencies: ["CBoraKernels"]),
        // HTTP only: the OpenAI API over the library's engine.
        .target(
            name: "BoraServer",
            dependencies: [
                "Bora",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "bora",
            dependencies: ["Bora", "BoraServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        // Fuzz targets for the readers of untrusted bytes (Fuzz/Sources/main.swift, Tools/fuzz.sh);
        // a plain build replays the corpora, as the tests do.
        .target(name: "CBoraFuzz", path: "Fuzz/CBoraFuzz"),
        .executableTarget(name: "bora-fuzz", dependencies: ["Bora", "CBoraFuzz"], path: "Fuzz/Sources"),
        // The allocation check of the hot path, run optimized by Tools/test.sh: a malloc counter
        // (replacing malloc in its executable; Linux only) around decode and batched steps.
        .target(name: "CBoraMallocCounter", path: "Tools/AllocCheck/CBoraMallocCounter"),
        .executableTarget(name: "bora-alloc-check", dependencies: ["Bora", "CBoraMallocCounter"], path: "Tools/AllocCheck/Sources"),
        .testTarget(name: "BoraTests", dependencies: ["Bora", "CBoraKernels"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
