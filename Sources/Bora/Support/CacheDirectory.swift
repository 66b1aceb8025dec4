import Foundation

/// Where Bora keeps fetched models and tokenizers: `$BORA_CACHE`, else `$XDG_CACHE_HOME/bora`, else
/// `$HOME/.cache/bora` (the home directory from the environment, as the fetch scripts see it, not
/// from the password database), else the system's home directory. The CLI, the tests and the
/// scripts in Tools/ all resolve it this way.
package enum CacheDirectory {
    package static var path: String {
        let environment = ProcessInfo.processInfo.environment
        if let cache = environment["BORA_CACHE"], !cache.isEmpty { return cache }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/bora" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/bora" }
        return NSHomeDirectory() + "/.cache/bora"
    }
}
