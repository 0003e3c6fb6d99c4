import type { Config } from "../../infra/config";
import { AnthropicProvider } from "./anthropic";
import { OfflineProvider } from "./offline";
import { OpenAIProvider } from "./openai";
import { ProviderError, type Provider } from "./types";

export type ProviderName = "offline" | "anthropic" | "openai";

/** The providers this installation can use, and which one `auto` means for text and for images. */
export class Providers {
  readonly offline = new OfflineProvider();
  readonly anthropic: AnthropicProvider | undefined;
  readonly openai: OpenAIProvider | undefined;
  #default: Config["aiProvider"];
  #observed = new WeakMap<Provider, Provider>();
  /** Called with each failed provider call (not one stopped by its signal), for metrics. */
  onError: (provider: Provider["name"], code: string) => void = () => {};

  constructor(config: Pick<Config, "aiProvider" | "anthropic" | "openai">) {
    this.#default = config.aiProvider;
    this.anthropic = config.anthropic.apiKey ? new AnthropicProvider({ apiKey: config.anthropic.apiKey, baseUrl: config.anthropic.baseUrl }) : undefined;
    this.openai = config.openai.apiKey ? new OpenAIProvider({ apiKey: config.openai.apiKey, baseUrl: config.openai.baseUrl }) : undefined;
  }

  /** The text provider for a run: its request, else AI_PROVIDER; `auto` = Claude, else OpenAI, else offline. */
  text(requested?: string): Provider | { error: string } {
    const choice = requested && requested !== "auto" ? requested : this.#default;
    if (choice === "offline") return this.#observe(this.offline);
    if (choice === "anthropic") return this.anthropic ? this.#observe(this.anthropic) : { error: "The anthropic provider needs ANTHROPIC_API_KEY." };
    if (choice === "openai") return this.openai ? this.#observe(this.openai) : { error: "The openai provider needs OPENAI_API_KEY." };
    return this.#observe(this.anthropic ?? this.openai ?? this.offline);
  }

  /** The image provider: OpenAI when configured (and not forced offline), else the offline renderer. */
  image(requested?: string): Provider {
    const choice = requested && requested !== "auto" ? requested : this.#default;
    if (choice === "offline") return this.#observe(this.offline);
    return this.#observe(this.openai ?? this.offline);
  }

  /** `provider` with its failures reported to `onError`; the same wrapper every time. */
  #observe(provider: Provider): Provider {
    let observed = this.#observed.get(provider);
    if (observed) return observed;
    const report = (error: unknown, signal: AbortSignal) => {
      if (!signal.aborted) this.onError(provider.name, error instanceof ProviderError ? error.code : "provider_error");
    };
    observed = {
      name: provider.name,
      async *stream(request) {
        try {
          yield* provider.stream(request);
        } catch (error) {
          report(error, request.signal);
          throw error;
        }
      },
      ...(provider.image
        ? {
            async image(request) {
              try {
                return await provider.image!(request);
              } catch (error) {
                report(error, request.signal);
                throw error;
              }
            },
          }
        : {}),
    };
    this.#observed.set(provider, observed);
    return observed;
  }

  /** True when `auto` resolves to the offline provider (the UI labels drafts as offline). */
  get offlineOnly(): boolean {
    return this.#default === "offline" || (!this.anthropic && !this.openai);
  }
}

export type { Provider };
