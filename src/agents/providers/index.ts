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
  #textDefault: NonNullable<Config["text"]["provider"]>;
  #imageDefault: NonNullable<Config["image"]["provider"]>;
  #observed = new WeakMap<Provider, Provider>();
  /** Called with each failed provider call (not one stopped by its signal), for metrics. */
  onError: (provider: Provider["name"], code: string) => void = () => {};

  constructor(config: Pick<Config, "aiProvider" | "anthropic" | "openai"> & Partial<Pick<Config, "text" | "image">>) {
    this.#textDefault = config.text?.provider ?? config.aiProvider;
    this.#imageDefault = config.image?.provider ?? (config.aiProvider === "offline" ? "offline" : "auto");
    const textModel = config.text?.model;
    const textProvider = config.text?.provider;
    this.anthropic = config.anthropic.apiKey ? new AnthropicProvider({ apiKey: config.anthropic.apiKey, baseUrl: config.anthropic.baseUrl, ...(textProvider === "anthropic" && textModel ? { model: textModel } : {}) }) : undefined;
    // An OpenAI-compatible server (Ollama, llama.cpp, vLLM) at OPENAI_BASE_URL may take no key.
    this.openai =
      config.openai.apiKey || config.openai.baseUrl
        ? new OpenAIProvider({
            apiKey: config.openai.apiKey ?? "no-key",
            baseUrl: config.openai.baseUrl,
            ...(textProvider === "openai" && textModel ? { chatModel: textModel } : {}),
            ...(config.image?.model ? { imageModel: config.image.model } : {}),
          })
        : undefined;
  }

  /** The text provider for a run: its request, else TEXT_PROVIDER, else AI_PROVIDER; `auto` = Claude, else OpenAI, else offline. */
  text(requested?: string): Provider | { error: string } {
    const choice = requested && requested !== "auto" ? requested : this.#textDefault;
    if (choice === "offline") return this.#observe(this.offline);
    if (choice === "anthropic") return this.anthropic ? this.#observe(this.anthropic) : { error: "The anthropic provider needs ANTHROPIC_API_KEY." };
    if (choice === "openai") return this.openai ? this.#observe(this.openai) : { error: "The openai provider needs OPENAI_API_KEY." };
    return this.#observe(this.anthropic ?? this.openai ?? this.offline);
  }

  /**
   * The image provider: offline when the run asks for offline, else IMAGE_PROVIDER (unset: OpenAI when
   * configured and AI_PROVIDER is not offline, else the offline renderer).
   */
  image(requested?: string): Provider {
    if (requested === "offline" || this.#imageDefault === "offline") return this.#observe(this.offline);
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
    return this.#textDefault === "offline" || (!this.anthropic && !this.openai);
  }
}

export type { Provider };
