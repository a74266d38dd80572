// Unlit completion layer (issue 12): a layer's faces (the occluded ones are already
// removed: collapsed by Ex4dLayerBuild.compute, or left out by the core on the CPU path),
// coloured from the layer's crop image, drawn *behind* the source surface: every vertex is
// pushed away from the eye along its view ray by _DepthBias (2% by default; the projection
// onto the screen is unchanged), so where the source DW-Mesh and a layer show a surface at
// about the same depth the source wins, and a layer shows where the source has nothing or is
// farther. Later layers are pushed a little more (_LayerOrder), so earlier layers keep a
// shared surface, as the library composites them. Vertex data as Ex4d/DW Mesh.
Shader "Ex4d/Completion Layer"
{
    Properties
    {
        _MainTex ("Colour", 2D) = "white" {}
        [Toggle] _ColorTopRowFirst ("Colour rows top first", Float) = 0
        // The part of the texture the crop uses (a raw upload fills the top-left of a texture
        // kept at its largest size, so it is not recreated every frame).
        _UvScale ("UV scale", Vector) = (1, 1, 0, 0)
        _DepthBias ("Depth bias (fraction of the distance)", Range(0, 0.1)) = 0.02
        _LayerOrder ("Layer order", Float) = 0
        [Enum(UnityEngine.Rendering.CullMode)] _Cull ("Cull", Float) = 0
    }

    SubShader
    {
        PackageRequirements { "com.unity.render-pipelines.universal" }
        Tags { "RenderType" = "Opaque" "RenderPipeline" = "UniversalPipeline" "Queue" = "Geometry" }

        Pass
        {
            Name "Unlit"
            Tags { "LightMode" = "UniversalForward" }
            Cull [_Cull]
            ZWrite On

            HLSLPROGRAM
            #pragma vertex Vert
            #pragma fragment Frag
            #pragma multi_compile_instancing
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"
            #include "Ex4dCommon.hlsl"

            TEXTURE2D(_MainTex);
            SAMPLER(sampler_MainTex);
            CBUFFER_START(UnityPerMaterial)
                float4 _MainTex_ST;
                float _ColorTopRowFirst;
                float4 _UvScale;
                float _DepthBias;
                float _LayerOrder;
                float _Cull;
            CBUFFER_END

            struct Attributes
            {
                float3 positionOS : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            Varyings Vert(Attributes input)
            {
                Varyings output = (Varyings)0;
                UNITY_SETUP_INSTANCE_ID(input);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(output);
                float3 positionVS = TransformWorldToView(TransformObjectToWorld(input.positionOS));
                positionVS *= Ex4dLayerPush(_DepthBias, _LayerOrder);
                output.positionCS = TransformWViewToHClip(positionVS);
                output.uvVis = input.uvVis;
                return output;
            }

            half4 Frag(Varyings input) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(input);
                float2 uv = Ex4dColorUv(input.uvVis, _ColorTopRowFirst) * _UvScale.xy;
                return half4(SAMPLE_TEXTURE2D(_MainTex, sampler_MainTex, uv).rgb, 1.0);
            }
            ENDHLSL
        }

        Pass
        {
            Name "DepthOnly"
            Tags { "LightMode" = "DepthOnly" }
            Cull [_Cull]
            ZWrite On
            ColorMask R

            HLSLPROGRAM
            #pragma vertex Vert
            #pragma fragment Frag
            #pragma multi_compile_instancing
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"
            #include "Ex4dCommon.hlsl"

            CBUFFER_START(UnityPerMaterial)
                float4 _MainTex_ST;
                float _ColorTopRowFirst;
                float4 _UvScale;
                float _DepthBias;
                float _LayerOrder;
                float _Cull;
            CBUFFER_END

            struct Attributes
            {
                float3 positionOS : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            Varyings Vert(Attributes input)
            {
                Varyings output = (Varyings)0;
                UNITY_SETUP_INSTANCE_ID(input);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(output);
                float3 positionVS = TransformWorldToView(TransformObjectToWorld(input.positionOS));
                positionVS *= Ex4dLayerPush(_DepthBias, _LayerOrder);
                output.positionCS = TransformWViewToHClip(positionVS);
                return output;
            }

            half Frag(Varyings input) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(input);
                return input.positionCS.z;
            }
            ENDHLSL
        }
    }

    SubShader
    {
        Tags { "RenderType" = "Opaque" "Queue" = "Geometry" }

        Pass
        {
            Cull [_Cull]
            ZWrite On

            CGPROGRAM
            #pragma vertex vert
            #pragma fragment frag
            #pragma multi_compile_instancing
            #include "UnityCG.cginc"
            #include "Ex4dCommon.hlsl"

            sampler2D _MainTex;
            float _ColorTopRowFirst;
            float4 _UvScale;
            float _DepthBias;
            float _LayerOrder;

            struct appdata
            {
                float4 vertex : POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_INPUT_INSTANCE_ID
            };

            struct v2f
            {
                float4 pos : SV_POSITION;
                float3 uvVis : TEXCOORD0;
                UNITY_VERTEX_OUTPUT_STEREO
            };

            v2f vert(appdata v)
            {
                v2f o;
                UNITY_SETUP_INSTANCE_ID(v);
                UNITY_INITIALIZE_OUTPUT(v2f, o);
                UNITY_INITIALIZE_VERTEX_OUTPUT_STEREO(o);
                float3 viewPos = UnityObjectToViewPos(v.vertex.xyz);
                viewPos *= Ex4dLayerPush(_DepthBias, _LayerOrder);
                o.pos = UnityViewToClipPos(viewPos);
                o.uvVis = v.uvVis;
                return o;
            }

            fixed4 frag(v2f i) : SV_Target
            {
                UNITY_SETUP_STEREO_EYE_INDEX_POST_VERTEX(i);
                float2 uv = Ex4dColorUv(i.uvVis, _ColorTopRowFirst) * _UvScale.xy;
                return fixed4(tex2D(_MainTex, uv).rgb, 1.0);
            }
            ENDCG
        }
    }

    Fallback Off
}
